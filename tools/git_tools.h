// git_status, git_diff, git_log: read-only views of the workspace's git repository through
// libgit2 (no git CLI needed). Each fails with "... is not inside a git repository" outside one.
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// git_status {}: "## <branch>" (with upstream ahead/behind when known), then one line per changed
// path in `git status --short` form ("XY path", "?? new", "R  old -> new"); paths relative to
// the workspace; capped at ctx.list_max_entries. Details: {branch, entries}.
std::unique_ptr<Tool> MakeGitStatusTool();

// git_diff {path?, staged?}: unified diff (libgit2's patch printer, like `git diff`) of the
// working tree against the index, or with staged=true of the index against HEAD; optionally
// limited to a file or directory. Capped at ctx.output_cap_bytes. Details: {files, staged}.
std::unique_ptr<Tool> MakeGitDiffTool();

// git_log {max_count?, path?}: newest first, one commit per line:
// "<short id> <ISO 8601 author date> <author>: <subject>"; default 20, at most 500; optionally
// only commits that changed `path` (compared with the first parent). Details: {commits}.
std::unique_ptr<Tool> MakeGitLogTool();

}  // namespace dsagent
