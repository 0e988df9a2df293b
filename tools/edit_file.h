// edit_file: exact search/replace in one file, the model's main way to change code.
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// Arguments {path, old_string, new_string, replace_all?}. old_string must occur exactly once
// (or, with replace_all, at least once); it is matched byte for byte, except that a file with
// CRLF line endings also matches an old_string written with LF. Failures (ok=false) say what to do
// next: no match shows the nearest candidates (whitespace-insensitive match or similar lines, with
// line numbers); several matches list their line numbers and ask for more context or
// replace_all; old_string == new_string is refused. An empty old_string creates a missing (or
// fills an empty) file. Output: a summary line plus the unified diff of the change (capped at
// ctx.output_cap_bytes). Details: {path, replacements, created, diff}.
std::unique_ptr<Tool> MakeEditFileTool();

}  // namespace dsagent
