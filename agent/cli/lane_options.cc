#include "agent/cli/lane_options.h"

namespace dsagent {

void AddLaneOptions(CLI::App& cmd, LaneFlags& f) {
  cmd.add_option("--provider", f.provider,
                 "deepseek | deepseek-anthropic | openai-compatible | local")
      ->check(CLI::IsMember({"deepseek", "deepseek-anthropic", "openai-compatible", "local"}));
  cmd.add_option("--model", f.model,
                 "Model id, e.g. deepseek-v4-flash or deepseek-v4-pro (local: the checkpoint DIR)");
  cmd.add_option("--thinking", f.thinking, "Thinking mode: on | off")
      ->check(CLI::IsMember({"on", "off"}));
  cmd.add_option("--effort", f.effort, "Reasoning effort: high | max")
      ->check(CLI::IsMember({"high", "max"}));
  cmd.add_option("--policy", f.policy,
                 "Routing policy: a name from configs/routing/ or a YAML file");
}

void AppendLaneOverrides(const LaneFlags& f,
                         std::vector<std::pair<std::string, std::string>>& overrides,
                         bool with_policy) {
  if (!f.provider.empty()) overrides.emplace_back("provider", f.provider);
  if (!f.model.empty()) overrides.emplace_back("model", f.model);
  if (with_policy && !f.policy.empty()) overrides.emplace_back("routing.policy", f.policy);
  if (!f.thinking.empty())
    overrides.emplace_back("thinking", f.thinking == "on" ? "true" : "false");
  if (!f.effort.empty()) overrides.emplace_back("effort", f.effort);
}

}  // namespace dsagent
