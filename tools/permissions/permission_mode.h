// Permission modes: how much the agent may do without asking when no rule says otherwise, and how
// tools are grouped for that purpose.
//
//   mode        reads   edits (in the workspace)   shell commands   other tools
//   read-only   allow   deny                       deny             deny
//   ask         allow   ask                        ask              ask
//   auto-edit   allow   allow                      ask              ask
//   full-auto   allow   allow                      allow            allow
//
// read-only is a ceiling: no rule can allow an edit or a shell command in it. In the other modes
// rules (permission_rule.h) override these defaults.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tools/permissions/verdict.h"

namespace dsagent {

enum class PermissionMode { kReadOnly, kAsk, kAutoEdit, kFullAuto };

// "read-only", "ask", "auto-edit", "full-auto".
std::string PermissionModeName(PermissionMode mode);
// The inverse of PermissionModeName; nullopt for anything else.
std::optional<PermissionMode> ParsePermissionMode(std::string_view name);

enum class ToolClass {
  kRead,   // read_file, list_files, glob, grep, git_status, git_diff, git_log, repo_map
  kEdit,   // write_file, edit_file, apply_patch: change files in the workspace
  kShell,  // bash
  kOther,  // anything else (tools added later): treated like a shell command
};

ToolClass ClassifyTool(std::string_view tool_name);

// The decision for a call of `tool_class` that no rule matches (the table above).
Decision ModeDefault(PermissionMode mode, ToolClass tool_class);

}  // namespace dsagent
