// The session's permission policy from the configuration (permissions.* keys), and saving an
// "always allow" answer to the repository config.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "agent/config/config.h"
#include "common/expected.h"
#include "tools/permissions/permission_policy.h"

namespace dsagent {

// Which front end runs the session. Headless runs (`dsagent run`, `patch`, `eval`) have nobody
// to ask, so they use permissions.headless_mode (default full-auto: they behave as before
// permissions existed, with `.git` writes refused); the interactive terminal uses
// permissions.mode (default ask).
enum class PermissionFront { kHeadless, kInteractive };

// The mode for `front` and every rule of permissions.rules (defaults, then user file, then repo
// file, then environment and flags). Error: a malformed rule, naming it.
Expected<std::shared_ptr<PermissionPolicy>, std::string> PermissionPolicyFromConfig(
    const Config& config, const std::filesystem::path& workspace, PermissionFront front);

// Appends "allow <tool>(<pattern>)" to permissions.rules in <repo_dir>/.dsagent/config.yaml
// (created when missing; see AppendToConfigList for what is kept). `pattern` must not be empty (a
// rule without one would allow every call of the tool). Error: a one-line message.
Expected<Ok, std::string> PersistAllowRule(const std::filesystem::path& repo_dir,
                                           const std::string& tool, const std::string& pattern);

}  // namespace dsagent
