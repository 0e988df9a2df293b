// Turning the merged configuration into the pieces a run needs: provider options, the lane, limits,
// tool limits and the sessions directory. Shared by `run` and the interactive front end.
#pragma once

#include <filesystem>
#include <string>

#include "agent/config/config.h"
#include "agent/core/agent_loop.h"
#include "agent/providers/provider_factory.h"
#include "tools/tool.h"

namespace dsagent {

ProviderOptions ProviderOptionsFromConfig(const Config& config);
AgentSettings AgentSettingsFromConfig(const Config& config);
// With sandbox.enabled, shell commands may write only to the workspace, the repository's git
// directory (a worktree's objects and refs live there) and `sandbox_temp_dir` (their TMPDIR),
// confined by sandbox.backend. With backend `auto` and no backend working here, the sandbox is
// left off (SandboxNotice says so); with an explicit backend that does not work, shell commands
// are refused.
ToolContext ToolContextFromConfig(const Config& config, const std::filesystem::path& workspace,
                                  const std::filesystem::path& sandbox_temp_dir = {});
// sandbox.backend as a value (the schema allows only valid names; auto otherwise).
SandboxBackend SandboxBackendSetting(const Config& config);
// One line worth showing when a session starts, or "": the sandbox is enabled but no backend can
// provide it ("... shell commands run unconfined" for auto, "... shell commands will be refused"
// for an explicit backend).
std::string SandboxNotice(const Config& config);

// The sandbox of a headless run (`dsagent run`, `dsagent patch`), which is on unless the user
// passes --no-sandbox: writes only to the workspace, its git directory and a private TMPDIR.
struct HeadlessSandbox {
  bool deny_network = false;                           // what the run gets
  SandboxBackend backend = SandboxBackend::kLandlock;  // the one that will confine commands
  // Non-empty when network denial was asked for but no backend here can provide it along with
  // the filesystem confinement: the network then stays allowed, and this line says so.
  std::string notice;
};
// `deny_network`: whether the caller wants the network denied. Error: `backend` (auto: any) cannot
// confine writes here; the message says why and that --no-sandbox runs commands unconfined.
Expected<HeadlessSandbox, std::string> ChooseHeadlessSandbox(const SandboxSupport& support,
                                                             SandboxBackend backend,
                                                             bool deny_network);
std::filesystem::path SessionsDir(const Config& config);

// Whether a routing policy chooses the lane per call: routing.policy is set, the model is not
// pinned (set anywhere but the built-in defaults, e.g. --model), and either the provider is a
// DeepSeek one (the policies' lanes name DeepSeek models) or the user chose the policy explicitly.
bool RoutingApplies(const Config& config);

// "dsagent-" + 16 hex chars of SHA-256(canonical repo path): stable per repository, no PII, and
// matching DeepSeek's user_id rule [A-Za-z0-9_-]+.
std::string RepoUserId(const std::filesystem::path& workspace);

}  // namespace dsagent
