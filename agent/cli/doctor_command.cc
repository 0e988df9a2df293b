#include "agent/cli/doctor_command.h"

#include <git2.h>

#include <cstdio>
#include <filesystem>

#include "agent/config/config.h"
#include "agent/core/permission_setup.h"
#include "agent/core/run_setup.h"
#include "agent/core/termination.h"
#include "agent/core/tool_environment.h"
#include "tools/sandbox.h"

namespace dsagent {

void AddDoctorCommand(CLI::App& app, CommandTable& table) {
  auto* cmd =
      app.add_subcommand("doctor", "Report the sandbox, API key and directories dsagent would use");
  table.Bind(cmd, [] { return DoctorCommand(); });
}

int DoctorCommand() {
  std::printf("dsagent %s\n", DSAGENT_VERSION);
  const SandboxSupport sandbox = ProbeSandbox();
  std::printf("landlock: %s\n", sandbox.DescribeLandlock().c_str());
  std::printf("bubblewrap: %s\n", sandbox.DescribeBubblewrap().c_str());
  int major = 0, minor = 0, rev = 0;
  git_libgit2_version(&major, &minor, &rev);
  std::printf("libgit2: %d.%d.%d\n", major, minor, rev);
  auto config = Config::Load({.repo_dir = std::filesystem::current_path(),
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = {}});
  if (!config) {
    std::printf("config: ERROR %s\n", config.error().c_str());
    return kExitConfigAuth;
  }
  const std::string provider = config->GetString("provider");
  const ProviderOptions p = ProviderOptionsFromConfig(*config);
  std::printf("provider: %s at %s; API key %s\n", provider.c_str(), p.base_url.c_str(),
              p.api_key.empty() ? ("missing (set " + p.api_key_env + ")").c_str() : "set");
  // Which protections a session here would have.
  auto policy = PermissionPolicyFromConfig(*config, std::filesystem::current_path(),
                                           PermissionFront::kInteractive);
  if (!policy) {
    std::printf("permissions: ERROR %s\n", policy.error().c_str());
    return kExitConfigAuth;
  }
  std::printf("permissions: interactive mode %s, headless mode %s; %zu rule(s) from %s\n",
              config->GetString("permissions.mode").c_str(),
              config->GetString("permissions.headless_mode").c_str(), (*policy)->rules().size(),
              config->Get("permissions.rules").source.c_str());
  const std::string backend = config->GetString("sandbox.backend");
  const SandboxBackend wanted = SandboxBackendSetting(*config);
  const bool deny_network = config->GetBool("sandbox.deny_network");
  // `run` and `patch` are always sandboxed unless --no-sandbox (patch also denies the network
  // unless --allow-network); the interactive assistant follows sandbox.enabled.
  if (auto headless = ChooseHeadlessSandbox(sandbox, wanted, deny_network); headless) {
    std::printf("sandbox for `run`: on (--no-sandbox opts out), backend %s -> %s%s\n",
                backend.c_str(), SandboxBackendName(headless->backend).c_str(),
                headless->deny_network ? ", network denied" : ", network allowed");
    if (!headless->notice.empty()) std::printf("  notice: %s\n", headless->notice.c_str());
  } else {
    std::printf(
        "sandbox for `run`: unavailable (backend %s: %s); `run` and `patch` refuse to "
        "start without --no-sandbox\n",
        backend.c_str(), sandbox.Choose(wanted, false).error().c_str());
  }
  std::string chat = "off (sandbox.enabled: false)";
  if (config->GetBool("sandbox.enabled")) {
    chat = SandboxNotice(*config);
    if (chat.empty()) chat = "on";
  }
  std::printf("sandbox for chat: %s\n", chat.c_str());
  auto env = ToolEnvironmentFromConfig(*config, Config::ProcessEnvironment());
  if (!env) {
    std::printf("shell environment: ERROR %s\n", env.error().c_str());
    return kExitConfigAuth;
  }
  std::printf("shell environment: %s\n", DescribeToolEnvironment(*env).c_str());
  std::printf("sessions: %s\n", SessionsDir(*config).c_str());
  return kExitDone;
}

}  // namespace dsagent
