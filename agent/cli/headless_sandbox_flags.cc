#include "agent/cli/headless_sandbox_flags.h"

#include <cstdio>
#include <optional>

#include "agent/config/config.h"
#include "agent/core/run_setup.h"
#include "tools/sandbox.h"

namespace dsagent {

Expected<ConfigOverrides, std::string> HeadlessSandboxFlags(bool no_sandbox,
                                                            const std::filesystem::path& config_dir,
                                                            const ConfigOverrides& flags) {
  if (no_sandbox) return ConfigOverrides{{"sandbox.enabled", "false"}};
  // A config error here is reported by the run itself, which loads the same layers.
  auto config = Config::Load({.repo_dir = config_dir,
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = flags});
  const SandboxBackend backend = config ? SandboxBackendSetting(*config) : SandboxBackend::kAuto;
  auto chosen = ChooseHeadlessSandbox(ProbeSandbox(), backend,
                                      config && config->GetBool("sandbox.deny_network"));
  if (!chosen) return MakeUnexpected(chosen.error());
  if (!chosen->notice.empty()) {
    std::fprintf(stderr, "dsagent: notice: %s\n", chosen->notice.c_str());
  }
  return ConfigOverrides{{"sandbox.enabled", "true"},
                         {"sandbox.deny_network", chosen->deny_network ? "true" : "false"}};
}

}  // namespace dsagent
