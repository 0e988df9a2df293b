// write_file: create or overwrite a whole file in the workspace.
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// Arguments {path, content}. Creates missing parent directories and writes crash-safely (temp file
// + rename, keeping the old file's permissions). Output: a one-line summary (created or
// overwritten, bytes, lines). Refuses paths outside the workspace, inside .git/, and directories.
// Details: {path, created, bytes, lines, diff} where diff is the unified diff from the old content
// ("" when unchanged; a note instead of a diff when the old content was binary).
std::unique_ptr<Tool> MakeWriteFileTool();

}  // namespace dsagent
