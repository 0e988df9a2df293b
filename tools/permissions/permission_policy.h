// PermissionPolicy: decides, before a tool call runs, whether it may run, must be approved by the
// user first, or is refused. One per session; the agent loop asks it about every call.
//
// The decision, in order:
//   1. Edits (write_file, edit_file) whose path leaves the workspace, resolves through a symbolic
//      link out of it, or lies in `.git/` are denied in every mode (tools/workspace_path.h).
//   2. In mode read-only, anything but a read is denied (no rule can allow it).
//   3. The last configured rule that matches the call decides (permission_rule.h); for bash, each
//      simple command of a compound command is checked on its own and all must be allowed
//      (shell_verdict.h).
//   4. No rule matches: the mode's default (permission_mode.h).
//   5. An "ask" becomes "allow" when the user already answered "always" for a matching pattern
//      or for this exact call in this session; a "deny" never changes.
//
// Thread-safe: Check may run on the agent loop's thread while the terminal changes the mode or
// adds session grants on another.
#pragma once

#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tools/permissions/permission_mode.h"
#include "tools/permissions/permission_rule.h"
#include "tools/permissions/verdict.h"

namespace dsagent {

struct PermissionSettings {
  PermissionMode mode = PermissionMode::kAsk;
  std::vector<PermissionRule> rules;  // in precedence order: a later rule wins
  std::filesystem::path workspace;    // every path is judged relative to it
};

class PermissionPolicy {
 public:
  explicit PermissionPolicy(PermissionSettings settings);

  // The verdict for calling `tool_name` with `arguments_json` (the model's argument string). Never
  // throws; arguments that are not a JSON object are allowed here, since the tool registry refuses
  // them with a better message before anything runs.
  Verdict Check(std::string_view tool_name, std::string_view arguments_json) const;

  // "Always" for the rest of the session: calls of `tool_name` matching `pattern` (a rule pattern;
  // "" means every call of the tool) no longer ask. Denials still apply.
  void AllowForSession(const std::string& tool_name, const std::string& pattern);
  // "Always" for exactly this call (same tool and, for bash, the same command; otherwise the same
  // argument string): for calls no pattern can safely generalise.
  void AllowCallForSession(std::string_view tool_name, std::string_view arguments_json);

  PermissionMode mode() const;
  void SetMode(PermissionMode mode);
  std::vector<PermissionRule> rules() const;  // configured rules, in precedence order
  std::vector<PermissionRule> session_rules() const;
  const std::filesystem::path& workspace() const { return workspace_; }

 private:
  // The key for AllowCallForSession: tool + '\0' + the command (bash) or the argument string.
  static std::string CallKey(std::string_view tool_name, std::string_view arguments_json);

  const std::filesystem::path workspace_;
  mutable std::mutex mu_;
  PermissionMode mode_;
  const std::vector<PermissionRule> rules_;
  std::vector<PermissionRule> session_rules_;
  std::set<std::string> session_calls_;
};

}  // namespace dsagent
