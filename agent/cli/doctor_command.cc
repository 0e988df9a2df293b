#include "agent/cli/doctor_command.h"

#include <git2.h>

#include <cstdio>
#include <filesystem>

#include "agent/config/config.h"
#include "agent/core/run_setup.h"
#include "agent/core/termination.h"
#include "tools/sandbox.h"

namespace dsagent {

int DoctorCommand() {
  std::printf("dsagent %s\n", DSAGENT_VERSION);
  std::printf("sandbox: %s\n", ProbeSandbox().Describe().c_str());
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
  std::printf("sandbox for `run`: %s (patch always enables it)\n",
              config->GetBool("sandbox.enabled") ? "enabled" : "off");
  std::printf("sessions: %s\n", SessionsDir(*config).c_str());
  return kExitDone;
}

}  // namespace dsagent
