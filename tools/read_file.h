// read_file: numbered lines of a text file in the workspace (the model's main way to look at code).
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// Arguments {path, start_line?, end_line?} (1-based, inclusive). Output: lines formatted like
// `cat -n` (right-aligned number, tab, text), ctx.read_default_lines of them when no end_line is
// given, then a note with how many lines remain. Refuses (ok=false) directories, missing files
// (suggesting similar names), binary files, and slices larger than ctx.read_max_bytes (suggesting a
// smaller range). Details: {path, start_line, end_line, total_lines}.
std::unique_ptr<Tool> MakeReadFileTool();

}  // namespace dsagent
