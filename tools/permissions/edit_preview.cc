#include "tools/permissions/edit_preview.h"

#include "common/file_io.h"
#include "common/json.h"
#include "tools/text_detect.h"
#include "tools/unified_diff.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

// Larger files are not previewed: the prompt would be unreadable anyway.
constexpr uintmax_t kMaxPreviewBytes = 4 * 1024 * 1024;

size_t CountOccurrences(std::string_view haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

std::string PreviewEditDiff(std::string_view tool_name, std::string_view arguments_json,
                            const fs::path& workspace) {
  if (tool_name != "write_file" && tool_name != "edit_file") return "";
  const Json args = Json::parse(arguments_json, nullptr, false);
  if (!args.is_object() || !args.contains("path") || !args["path"].is_string()) return "";
  auto resolved =
      ResolveWorkspacePath(workspace, args["path"].get<std::string>(), PathAccess::kWrite);
  if (!resolved) return "";
  std::error_code ec;
  const bool exists = fs::is_regular_file(resolved->absolute, ec);
  if (exists && fs::file_size(resolved->absolute, ec) > kMaxPreviewBytes) return "";
  std::string old_text;
  if (exists) {
    auto read = ReadFileToString(resolved->absolute);
    if (!read) return "";
    old_text = std::move(*read);
  }
  if (LooksBinary(old_text.substr(0, kBinarySniffBytes))) return "";

  std::string new_text;
  if (tool_name == "write_file") {
    if (!args.contains("content") || !args["content"].is_string()) return "";
    new_text = args["content"].get<std::string>();
  } else {
    if (!args.contains("old_string") || !args["old_string"].is_string() ||
        !args.contains("new_string") || !args["new_string"].is_string()) {
      return "";
    }
    const std::string from = args["old_string"].get<std::string>();
    const std::string to = args["new_string"].get<std::string>();
    const bool replace_all = args.contains("replace_all") && args["replace_all"].is_boolean() &&
                             args["replace_all"].get<bool>();
    if (from.empty()) {
      if (!old_text.empty()) return "";
      new_text = to;
    } else {
      const size_t n = CountOccurrences(old_text, from);
      if (n == 0 || (n > 1 && !replace_all)) return "";
      new_text = ReplaceAll(old_text, from, to);
    }
  }
  return UnifiedDiff(old_text, new_text, exists ? "a/" + resolved->relative : "/dev/null",
                     "b/" + resolved->relative);
}

}  // namespace dsagent
