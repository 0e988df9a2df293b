#include "agent/core/permission_setup.h"

#include "agent/config/config_writer.h"

namespace dsagent {

Expected<std::shared_ptr<PermissionPolicy>, std::string> PermissionPolicyFromConfig(
    const Config& config, const std::filesystem::path& workspace, PermissionFront front) {
  const std::string key =
      front == PermissionFront::kHeadless ? "permissions.headless_mode" : "permissions.mode";
  PermissionSettings settings;
  // The schema restricts the key to the four mode names.
  settings.mode = ParsePermissionMode(config.GetString(key)).value_or(PermissionMode::kAsk);
  settings.workspace = workspace;
  std::string errors;
  for (const std::string& text : config.GetStringList("permissions.rules")) {
    auto rule = ParsePermissionRule(text);
    if (!rule) {
      errors += (errors.empty() ? "" : "\n") + rule.error() + " (permissions.rules, " +
                config.Get("permissions.rules").source + ")";
      continue;
    }
    settings.rules.push_back(std::move(*rule));
  }
  if (!errors.empty()) return MakeUnexpected(errors);
  return std::make_shared<PermissionPolicy>(std::move(settings));
}

Expected<Ok, std::string> PersistAllowRule(const std::filesystem::path& repo_dir,
                                           const std::string& tool, const std::string& pattern) {
  if (pattern.empty()) {
    return MakeUnexpected("no pattern to save: this call can only be allowed for this session");
  }
  const std::string rule = FormatPermissionRule({Decision::kAllow, tool, pattern});
  return AppendToConfigList(repo_dir / ".dsagent" / "config.yaml", "permissions.rules", rule);
}

}  // namespace dsagent
