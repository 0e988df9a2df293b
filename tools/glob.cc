#include "tools/glob.h"

#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "tools/file_walk.h"
#include "tools/glob_pattern.h"
#include "tools/shown_name.h"
#include "tools/tool_util.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

class GlobTool : public Tool {
 public:
  std::string Name() const override { return "glob"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "pattern": {"type": "string", "description": "Glob relative to path: * and ? within a name, [abc] classes, ** for any number of directories (e.g. \"src/**/*.cc\")."},
        "path": {"type": "string", "description": "Directory to search from, relative to the workspace root. Default: the workspace root."}
      },
      "required": ["pattern"],
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const std::string pattern_text = StringArg(args, "pattern");
    const std::string path = StringArg(args, "path", ".");
    if (pattern_text.empty()) return ErrorResult("pattern is empty");
    if (pattern_text.front() == '/') {
      return ErrorResult("pattern must be relative (to path, default the workspace root)");
    }
    const GlobPattern pattern(pattern_text);
    if (("/" + pattern_text + "/").find("/../") != std::string::npos) {
      return ErrorResult("pattern must not contain '..'; set path to search another directory");
    }
    auto dir = ResolveWalkRoot(ctx.workspace, path);
    if (!dir) return ErrorResult(dir.error());
    const fs::path root = dir->absolute;

    // Start below the pattern's literal directories and stop at its depth: far fewer entries.
    const std::string prefix = pattern.LiteralDirectoryPrefix();
    const fs::path start = prefix.empty() ? root : root / prefix;
    std::error_code ec;
    std::vector<std::string> matches;
    bool truncated = false;
    if (fs::is_directory(start, ec) && IsWithin(fs::canonical(start, ec), root)) {
      WorkspaceWalker walker(ctx.workspace);
      const int prefix_depth =
          static_cast<int>(std::distance(fs::path(prefix).begin(), fs::path(prefix).end()));
      const int max_depth = pattern.MaxDepth() == 0 ? 0 : pattern.MaxDepth() - prefix_depth;
      walker.Walk(start, max_depth, [&](const WalkEntry& e) {
        if (ctx.cancel.IsCancelled()) return WalkAction::kStop;
        const std::string rel = e.absolute.lexically_relative(root).generic_string();
        if (e.is_directory) {
          return pattern.CouldMatchBelow(rel) ? WalkAction::kContinue : WalkAction::kSkipChildren;
        }
        if (!pattern.Matches(rel)) return WalkAction::kContinue;
        if (matches.size() == ctx.list_max_entries) {
          truncated = true;
          return WalkAction::kStop;
        }
        matches.push_back(e.relative);
        return WalkAction::kContinue;
      });
    }
    if (ctx.cancel.IsCancelled()) return ErrorResult("interrupted");
    SortTreeOrder(matches);

    ToolResult r;
    if (matches.empty()) {
      r.output = "no files match '" + pattern_text + "' under " +
                 (dir->relative == "." ? std::string("the workspace root") : dir->relative) + "\n";
    } else {
      for (const std::string& m : matches) r.output += ShownName(m) + "\n";
    }
    if (truncated) {
      r.output += "[stopped at " + std::to_string(ctx.list_max_entries) +
                  " matches; use a narrower pattern or path]\n";
    }
    r.details = {{"pattern", pattern_text}, {"matches", matches.size()}, {"truncated", truncated}};
    return r;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeGlobTool() { return std::make_unique<GlobTool>(); }

}  // namespace dsagent
