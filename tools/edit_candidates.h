// Help for a failed exact match in edit_file: where the model's old_string probably was meant to
// match, so that its next attempt can copy the real text instead of guessing again.
#pragma once

#include <string>
#include <string_view>

namespace dsagent {

// Describes the closest places in `content` to `old_string` (which does not occur exactly):
// first a whitespace-insensitive match (different indentation or line breaks), showing the exact
// text of those lines; otherwise up to 3 lines most similar to old_string's first non-blank line.
// Lines are shown numbered like read_file. Returns "" when nothing is close. Pure; thread-safe.
std::string DescribeNearMisses(std::string_view content, std::string_view old_string);

}  // namespace dsagent
