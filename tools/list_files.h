// list_files: what exists in the workspace (respecting .gitignore; see file_walk.h).
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// list_files {path?, max_depth?}: entries below a directory (default the workspace root) up to
// max_depth levels (default 3), shallow levels first when the ctx.list_max_entries cap is hit.
// Output: workspace-relative paths sorted component-wise, directories with a trailing '/', then a
// note when capped. Details: {path, entries, truncated}.
std::unique_ptr<Tool> MakeListFilesTool();

}  // namespace dsagent
