#include "tools/permissions/permission_mode.h"

#include <array>

#include "common/name_table.h"

namespace dsagent {
namespace {
constexpr EnumName<PermissionMode> kModeNames[] = {{PermissionMode::kReadOnly, "read-only"},
                                                   {PermissionMode::kAsk, "ask"},
                                                   {PermissionMode::kAutoEdit, "auto-edit"},
                                                   {PermissionMode::kFullAuto, "full-auto"}};
}  // namespace

std::string PermissionModeName(PermissionMode mode) {
  return std::string(NameOf(kModeNames, mode));
}

std::optional<PermissionMode> ParsePermissionMode(std::string_view name) {
  return ValueNamed(kModeNames, name);
}

ToolClass ClassifyTool(std::string_view tool_name) {
  static constexpr std::array<std::string_view, 8> kReads = {
      "read_file", "list_files", "glob", "grep", "git_status", "git_diff", "git_log", "repo_map"};
  static constexpr std::array<std::string_view, 3> kEdits = {"write_file", "edit_file",
                                                             "apply_patch"};
  for (std::string_view r : kReads) {
    if (tool_name == r) return ToolClass::kRead;
  }
  for (std::string_view e : kEdits) {
    if (tool_name == e) return ToolClass::kEdit;
  }
  if (tool_name == "bash") return ToolClass::kShell;
  return ToolClass::kOther;
}

Decision ModeDefault(PermissionMode mode, ToolClass tool_class) {
  if (tool_class == ToolClass::kRead) return Decision::kAllow;
  switch (mode) {
    case PermissionMode::kReadOnly:
      return Decision::kDeny;
    case PermissionMode::kAsk:
      return Decision::kAsk;
    case PermissionMode::kAutoEdit:
      return tool_class == ToolClass::kEdit ? Decision::kAllow : Decision::kAsk;
    case PermissionMode::kFullAuto:
      break;
  }
  return Decision::kAllow;
}

}  // namespace dsagent
