#include "agent/core/tool_environment.h"

namespace dsagent {
namespace {

// The HTTP providers: they hold an API key and name the variable it may come from.
constexpr const char* kKeyedProviders[] = {"deepseek", "deepseek-anthropic", "openai-compatible"};

}  // namespace

std::vector<std::string> ProviderVariables(const Config& config) {
  std::vector<std::string> names = {"DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL",
                                    "DSAGENT_PROVIDERS__*"};
  for (const char* provider : kKeyedProviders) {
    std::string var = config.GetString("providers." + std::string(provider) + ".api_key_env");
    if (!var.empty()) names.push_back(std::move(var));
  }
  return names;
}

Expected<ToolEnvironment, std::string> ToolEnvironmentFromConfig(const Config& config,
                                                                 const EnvMap& parent) {
  ToolEnvironment env;
  env.policy.inherit =
      ParseEnvInherit(config.GetString("tools.env.inherit")).value_or(EnvInherit::kAll);
  env.policy.keep = config.GetStringList("tools.env.keep");
  env.policy.withhold = ProviderVariables(config);
  for (const std::string& entry : config.GetStringList("tools.env.set")) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return MakeUnexpected("tools.env.set: '" + entry + "' is not NAME=VALUE (from " +
                            config.Get("tools.env.set").source + ")");
    }
    env.policy.set[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  env.child = BuildChildEnvironment(env.policy, parent);
  auto redactor = std::make_shared<Redactor>();
  for (const auto& [name, value] : env.child.withheld) redactor->Add(name, value);
  for (const char* provider : kKeyedProviders) {
    const std::string key = "providers." + std::string(provider) + ".api_key";
    redactor->Add(key, config.GetString(key));
  }
  env.redactor = std::move(redactor);
  return env;
}

std::string DescribeToolEnvironment(const ToolEnvironment& env) {
  std::string names;
  for (const auto& [name, value] : env.child.withheld) {
    names += (names.empty() ? "" : ", ") + name;
  }
  return "inherit " + EnvInheritName(env.policy.inherit) +
         "; withheld: " + (names.empty() ? "none" : names);
}

}  // namespace dsagent
