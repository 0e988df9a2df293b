// Line diffs in unified format (the `diff -u` / `git diff` text), for showing the model and the
// user what a write or edit changed.
#pragma once

#include <string>
#include <string_view>

namespace dsagent {

// Unified diff from `old_text` to `new_text`: "--- <old_label>" / "+++ <new_label>" headers, then
// `@@ -a,b +c,d @@` hunks with `context_lines` lines of unchanged context around each change
// (hunks closer than 2 x context_lines merge). A last line without a newline is followed by
// "\ No newline at end of file", as in git. Returns "" when the texts are equal.
// The diff is minimal (Myers) for up to a few thousand changed lines; beyond that the changed
// middle region is shown as one deletion plus one insertion, which is still a correct diff.
// Pure function; thread-safe.
std::string UnifiedDiff(std::string_view old_text, std::string_view new_text,
                        std::string_view old_label, std::string_view new_label,
                        int context_lines = 3);

}  // namespace dsagent
