// The environment a session's shell commands get and the secrets taken out of their output, from
// the `tools.env.*` settings and the providers' settings (see tools/env_policy.h and
// tools/redactor.h). Built once when a session opens, from the environment dsagent started with.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "common/expected.h"
#include "tools/env_policy.h"
#include "tools/redactor.h"

namespace dsagent {

struct ToolEnvironment {
  EnvPolicy policy;
  ChildEnvironment child;  // the policy applied to the parent environment
  // The withheld variables' values, then every provider's configured api_key (under its config
  // key), e.g. "[REDACTED:DEEPSEEK_API_KEY]". Never null.
  std::shared_ptr<const Redactor> redactor;
};

// The provider's own variables, withheld from commands even where their names look harmless:
// DEEPSEEK_API_KEY, DEEPSEEK_BASE_URL, DSAGENT_PROVIDERS__* and each HTTP provider's api_key_env.
std::vector<std::string> ProviderVariables(const Config& config);

// tools.env.inherit / keep / set plus ProviderVariables, applied to `parent` (usually
// ProcessEnvironment()). Error: a tools.env.set entry is not NAME=VALUE with a non-empty NAME
// (the message names the entry).
Expected<ToolEnvironment, std::string> ToolEnvironmentFromConfig(const Config& config,
                                                                 const EnvMap& parent);

// One line for `dsagent doctor` / `config show`: "inherit all; withheld: A, B" (names only;
// "withheld: none" when nothing is).
std::string DescribeToolEnvironment(const ToolEnvironment& env);

}  // namespace dsagent
