#include "tools/permissions/permission_policy.h"

#include "common/json.h"
#include "tools/permissions/always_pattern.h"
#include "tools/permissions/shell_verdict.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

fs::path CanonicalOr(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

std::string ToolLabel(ToolClass c) {
  switch (c) {
    case ToolClass::kEdit:
      return "file edits";
    case ToolClass::kShell:
      return "shell commands";
    case ToolClass::kRead:
      return "reads";
    case ToolClass::kOther:
      break;
  }
  return "this tool";
}

}  // namespace

PermissionPolicy::PermissionPolicy(PermissionSettings settings)
    : workspace_(CanonicalOr(settings.workspace)),
      mode_(settings.mode),
      rules_(std::move(settings.rules)) {}

std::string PermissionPolicy::CallKey(std::string_view tool_name, std::string_view arguments_json) {
  std::string key = std::string(tool_name) + '\0';
  if (ClassifyTool(tool_name) == ToolClass::kShell) {
    const Json args = Json::parse(arguments_json, nullptr, false);
    return key + StringField(args, "command");
  }
  return key + std::string(arguments_json);
}

Verdict PermissionPolicy::Check(std::string_view tool_name, std::string_view arguments_json) const {
  const Json args = Json::parse(arguments_json, nullptr, false);
  if (args.is_discarded() || !args.is_object()) return {};
  std::lock_guard lock(mu_);
  const ToolClass tool_class = ClassifyTool(tool_name);
  const std::string tool(tool_name);
  if (mode_ == PermissionMode::kReadOnly && tool_class != ToolClass::kRead) {
    return {Decision::kDeny, ToolLabel(tool_class) + " are not allowed in mode read-only", ""};
  }

  Verdict v;
  if (tool_class == ToolClass::kShell) {
    v = CheckShellCommand(StringField(args, "command"),
                          {mode_, &rules_, &session_rules_, workspace_});
  } else {
    // The subject of path rules: the workspace-relative path, when the call names one.
    std::string subject;
    const std::string path = StringField(args, "path");
    if (!path.empty()) {
      const PathAccess access =
          tool_class == ToolClass::kEdit ? PathAccess::kWrite : PathAccess::kRead;
      auto resolved = ResolveWorkspacePath(workspace_, path, access);
      if (!resolved && tool_class == ToolClass::kEdit) {
        return {Decision::kDeny, resolved.error(), ""};
      }
      subject = resolved ? resolved->relative : path;
    }
    const PermissionRule* rule = LastMatchingRule(rules_, tool, {subject});
    v.decision = rule != nullptr ? rule->decision : ModeDefault(mode_, tool_class);
    if (v.decision == Decision::kAsk && LastMatchingRule(session_rules_, tool, {subject})) {
      v.decision = Decision::kAllow;
    }
    const std::string what = tool + (subject.empty() ? "" : " " + subject);
    if (rule != nullptr && v.decision != Decision::kAllow) {
      v.reason = what +
                 (v.decision == Decision::kDeny ? " is denied by rule \"" : " asks by rule \"") +
                 FormatPermissionRule(*rule) + "\"";
    } else if (v.decision != Decision::kAllow) {
      v.reason = what + " needs approval: " + ToolLabel(tool_class) + " ask in mode " +
                 PermissionModeName(mode_);
    }
    if (v.decision == Decision::kAsk && tool_class == ToolClass::kEdit && !subject.empty()) {
      v.always_pattern = SuggestPathPattern(subject);
    }
  }
  if (v.decision == Decision::kAsk && session_calls_.count(CallKey(tool_name, arguments_json))) {
    return {};
  }
  return v;
}

void PermissionPolicy::AllowForSession(const std::string& tool_name, const std::string& pattern) {
  std::lock_guard lock(mu_);
  session_rules_.push_back({Decision::kAllow, tool_name, pattern});
}

void PermissionPolicy::AllowCallForSession(std::string_view tool_name,
                                           std::string_view arguments_json) {
  std::lock_guard lock(mu_);
  session_calls_.insert(CallKey(tool_name, arguments_json));
}

PermissionMode PermissionPolicy::mode() const {
  std::lock_guard lock(mu_);
  return mode_;
}

void PermissionPolicy::SetMode(PermissionMode mode) {
  std::lock_guard lock(mu_);
  mode_ = mode;
}

std::vector<PermissionRule> PermissionPolicy::rules() const { return rules_; }

std::vector<PermissionRule> PermissionPolicy::session_rules() const {
  std::lock_guard lock(mu_);
  return session_rules_;
}

}  // namespace dsagent
