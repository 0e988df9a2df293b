// glob: files whose paths match a pattern (respecting .gitignore; see file_walk.h).
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// glob {pattern, path?}: files whose path relative to `path` (default the workspace root) matches
// the pattern (`*`, `?`, `[...]`, `**`; see glob_pattern.h). Output: workspace-relative paths,
// sorted, capped at ctx.list_max_entries with a note. Details: {pattern, matches, truncated}.
std::unique_ptr<Tool> MakeGlobTool();

}  // namespace dsagent
