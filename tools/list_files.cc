#include "tools/list_files.h"

#include <string>
#include <vector>

#include "tools/file_walk.h"
#include "tools/shown_name.h"
#include "tools/tool_util.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

constexpr int kDefaultMaxDepth = 3;

class ListFilesTool : public Tool {
 public:
  std::string Name() const override { return "list_files"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "path": {"type": "string", "description": "Directory to list, relative to the workspace root. Default: the workspace root."},
        "max_depth": {"type": "integer", "minimum": 1, "description": "How many directory levels to descend; 1 lists only direct children. Default 3."}
      },
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const std::string path = StringArg(args, "path", ".");
    const int64_t max_depth = IntArg(args, "max_depth", kDefaultMaxDepth);
    if (max_depth < 1) return ErrorResult("max_depth must be at least 1");
    auto dir = ResolveWalkRoot(ctx.workspace, path);
    if (!dir) return ErrorResult(dir.error());

    WorkspaceWalker walker(ctx.workspace);
    std::vector<std::string> shown;
    bool truncated = false;
    // Breadth first: when the cap is hit, the model still sees the top of the tree.
    std::vector<fs::path> level = {dir->absolute};
    for (int depth = 1; depth <= max_depth && !level.empty() && !truncated; ++depth) {
      std::vector<fs::path> next;
      for (const fs::path& d : level) {
        if (ctx.cancel.IsCancelled()) return ErrorResult("interrupted");
        for (const WalkEntry& e : walker.Children(d, depth)) {
          if (shown.size() == ctx.list_max_entries) {
            truncated = true;
            break;
          }
          shown.push_back(e.relative + (e.is_directory ? "/" : ""));
          if (e.is_directory) next.push_back(e.absolute);
        }
        if (truncated) break;
      }
      level = std::move(next);
    }
    SortTreeOrder(shown);

    ToolResult r;
    for (const std::string& line : shown) r.output += ShownName(line) + "\n";
    if (shown.empty()) r.output = "(empty directory)\n";
    if (truncated) {
      r.output += "[listing capped at " + std::to_string(ctx.list_max_entries) +
                  " entries; list a subdirectory or use a smaller max_depth to see the rest]\n";
    }
    r.details = {{"path", dir->relative}, {"entries", shown.size()}, {"truncated", truncated}};
    return r;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeListFilesTool() { return std::make_unique<ListFilesTool>(); }

}  // namespace dsagent
