#include "tools/repomap/repo_map_tool.h"

#include <algorithm>
#include <string>
#include <vector>

#include "tools/repomap/repo_map.h"
#include "tools/tool_util.h"

namespace dsagent {
namespace {

constexpr int64_t kMinTokens = 128;
constexpr int64_t kMaxTokens = 8192;

// args[key] as strings. Error: the message for the model when an element is not a string.
Expected<std::vector<std::string>, std::string> StringList(const Json& args, const char* key) {
  std::vector<std::string> out;
  auto it = args.find(key);
  if (it == args.end()) return out;
  for (const Json& v : *it) {
    if (!v.is_string()) {
      return MakeUnexpected(std::string("every element of '") + key + "' must be a string");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

class RepoMapTool : public Tool {
 public:
  std::string Name() const override { return "repo_map"; }

  Json Schema() const override {
    return Json::parse(R"json({
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "focus": {"type": "array", "items": {"type": "string"},
                  "description": "Files or directories you work on; ranks what they use first"},
        "symbols": {"type": "array", "items": {"type": "string"},
                    "description": "Identifiers to favour (functions, classes, types)"},
        "max_tokens": {"type": "integer", "minimum": 128,
                       "description": "Budget of the map in tokens (default 1024, at most 8192)"}
      }
    })json");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    auto focus = StringList(args, "focus");
    if (!focus) return ErrorResult(focus.error());
    auto symbols = StringList(args, "symbols");
    if (!symbols) return ErrorResult(symbols.error());
    RepoMapOptions options;
    options.workspace = ctx.workspace;
    options.focus_paths = *focus;
    options.mentioned_identifiers = *symbols;
    options.max_tokens = static_cast<size_t>(
        std::clamp<int64_t>(IntArg(args, "max_tokens", static_cast<int64_t>(kDefaultRepoMapTokens)),
                            kMinTokens, kMaxTokens));
    options.cancel = ctx.cancel;
    auto map = BuildRepoMap(options);
    if (!map) return ErrorResult(map.error());

    ToolResult result;
    result.output =
        map->text.empty() ? "No definitions found in the workspace's source files.\n" : map->text;
    for (const std::string& note : map->notes) result.output += "Note: " + note + "\n";
    if (std::string skipped = SkippedSummary(*map); !skipped.empty()) {
      result.output += "Note: " + skipped + "\n";
    }
    Json skipped = Json::array();
    for (const auto& s : map->skipped) skipped.push_back({{"path", s.path}, {"reason", s.reason}});
    result.details = {{"files_mapped", map->files_mapped},
                      {"files_parsed", map->files_parsed},
                      {"files_from_cache", map->files_from_cache},
                      {"definitions_shown", map->definitions_shown},
                      {"definitions_ranked", map->definitions_ranked},
                      {"tokens_estimate", map->tokens_estimate},
                      {"skipped", skipped}};
    return result;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeRepoMapTool() { return std::make_unique<RepoMapTool>(); }

}  // namespace dsagent
