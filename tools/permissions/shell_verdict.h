// The permission check for one bash command (AnalyzeShellCommand, then rules): every simple
// command it would run must be allowed, by the last matching rule or else by the mode — where the
// mode asks, a read-only command (read_only_commands.h) is allowed as long as the whole command
// line redirects output nowhere but /dev/null and the like; any part denied denies the whole; a
// write (redirection) into `.git/` or through a symbolic link out of the workspace is denied, one
// elsewhere outside the workspace asks (except in full-auto, where the OS sandbox is the guard, and
// for temp files and /dev/null); and a command that cannot be read confidently asks, unless nothing
// could be refused anyway (full-auto with no ask or deny rule for bash). Pure function of its
// inputs; thread-safe.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "tools/permissions/permission_mode.h"
#include "tools/permissions/permission_rule.h"
#include "tools/permissions/verdict.h"

namespace dsagent {

struct ShellCheckInput {
  PermissionMode mode = PermissionMode::kAsk;
  const std::vector<PermissionRule>* rules = nullptr;  // configured, in precedence order
  // "always" answers of this session: they turn an ask into an allow, never a deny.
  const std::vector<PermissionRule>* session_rules = nullptr;
  std::filesystem::path workspace;  // canonical
};

Verdict CheckShellCommand(std::string_view command, const ShellCheckInput& input);

}  // namespace dsagent
