#include "tools/write_file.h"

#include <string>

#include "common/file_io.h"
#include "common/utf8.h"
#include "tools/file_content.h"
#include "tools/text_detect.h"
#include "tools/tool_util.h"
#include "tools/unified_diff.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;

namespace {

class WriteFileTool : public Tool {
 public:
  std::string Name() const override { return "write_file"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "path": {"type": "string", "description": "File to create or overwrite, relative to the workspace root (or absolute inside it). Missing parent directories are created."},
        "content": {"type": "string", "description": "The complete new content of the file."}
      },
      "required": ["path", "content"],
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const std::string path = StringArg(args, "path");
    const std::string content = StringArg(args, "content");
    auto resolved = ResolveWorkspacePath(ctx.workspace, path, PathAccess::kWrite);
    if (!resolved) return ErrorResult(resolved.error());
    const fs::path& abs = resolved->absolute;
    auto old = ReadIfRegularFile(abs, path);
    if (!old) return ErrorResult(old.error());
    const bool existed = old->has_value();
    const std::string old_content = existed ? **old : std::string();
    if (auto written = WriteFileAtomic(abs, content); !written) {
      return ErrorResult("cannot write '" + path + "': " + written.error());
    }

    const size_t lines = CountLines(content);
    std::string diff;
    if (LooksBinary(old_content.substr(0, kBinarySniffBytes))) {
      diff = "(binary content replaced)\n";
    } else {
      diff = SanitizeUtf8(UnifiedDiff(old_content, content,
                                      existed ? "a/" + resolved->relative : "/dev/null",
                                      "b/" + resolved->relative));
    }
    ToolResult r;
    r.output = std::string(existed ? "Overwrote " : "Created ") + resolved->relative + " (" +
               std::to_string(content.size()) + " bytes, " + std::to_string(lines) + " line" +
               (lines == 1 ? "" : "s") + ")";
    if (existed && old_content == content) r.output += "; the content was already identical";
    r.details = {{"path", resolved->relative},
                 {"created", !existed},
                 {"bytes", content.size()},
                 {"lines", lines},
                 {"diff", diff}};
    return r;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeWriteFileTool() { return std::make_unique<WriteFileTool>(); }

}  // namespace dsagent
