#include "tools/edit_file.h"

#include <string>
#include <vector>

#include "common/file_io.h"
#include "common/utf8.h"
#include "tools/edit_candidates.h"
#include "tools/file_content.h"
#include "tools/head_tail_buffer.h"
#include "tools/missing_path.h"
#include "tools/text_detect.h"
#include "tools/tool_util.h"
#include "tools/unified_diff.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxListedMatches = 20;

// Byte offsets of the non-overlapping occurrences of `needle` in `haystack`.
std::vector<size_t> FindAll(std::string_view haystack, std::string_view needle) {
  std::vector<size_t> out;
  for (size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    out.push_back(pos);
  }
  return out;
}

std::string ToCrlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string LineList(std::string_view content, const std::vector<size_t>& offsets) {
  std::string out;
  size_t line = 1, scanned = 0;
  for (size_t i = 0; i < offsets.size() && i < kMaxListedMatches; ++i) {
    line += LineNumberAt(content.substr(scanned, offsets[i] - scanned), std::string::npos) - 1;
    scanned = offsets[i];
    out += (i ? ", " : "") + std::to_string(line);
  }
  if (offsets.size() > kMaxListedMatches) out += ", ...";
  return out;
}

class EditFileTool : public Tool {
 public:
  std::string Name() const override { return "edit_file"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "path": {"type": "string", "description": "File to edit, relative to the workspace root (or absolute inside it)."},
        "old_string": {"type": "string", "description": "Exact text to replace, including whitespace and indentation; must occur exactly once unless replace_all is true. Empty to create a new file."},
        "new_string": {"type": "string", "description": "Replacement text; must differ from old_string."},
        "replace_all": {"type": "boolean", "description": "Replace every occurrence of old_string instead of requiring exactly one. Default false."}
      },
      "required": ["path", "old_string", "new_string"],
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const std::string path = StringArg(args, "path");
    std::string old_string = StringArg(args, "old_string");
    std::string new_string = StringArg(args, "new_string");
    const bool replace_all = BoolArg(args, "replace_all", false);
    if (old_string == new_string) {
      return ErrorResult("old_string and new_string are identical; there is nothing to change");
    }
    auto resolved = ResolveWorkspacePath(ctx.workspace, path, PathAccess::kWrite);
    if (!resolved) return ErrorResult(resolved.error());
    auto current = ReadIfRegularFile(resolved->absolute, path);
    if (!current) return ErrorResult(current.error());

    if (old_string.empty()) {
      if (current->has_value() && !(*current)->empty()) {
        return ErrorResult("old_string is empty but '" + path +
                           "' already has content; give the exact text to replace (or use "
                           "write_file to replace the whole file)");
      }
      return Apply(*resolved, path, "", new_string, 1, 0, !current->has_value(), ctx);
    }
    if (!current->has_value()) {
      return ErrorResult(MissingPathMessage(ctx.workspace, resolved->absolute, path));
    }
    const std::string& content = **current;
    if (LooksBinary(std::string_view(content).substr(0, kBinarySniffBytes))) {
      return ErrorResult("'" + path + "' looks like a binary file; edit_file edits text only");
    }

    std::vector<size_t> matches = FindAll(content, old_string);
    if (matches.empty() && old_string.find('\r') == std::string::npos &&
        content.find("\r\n") != std::string::npos) {
      // The file uses CRLF but read_file shows lines without the '\r'.
      std::string crlf_old = ToCrlf(old_string);
      matches = FindAll(content, crlf_old);
      if (!matches.empty()) {
        old_string = std::move(crlf_old);
        new_string = ToCrlf(new_string);
      }
    }
    if (matches.empty()) {
      std::string msg = "old_string was not found in '" + path + "'.";
      const std::string near = DescribeNearMisses(content, old_string);
      msg += near.empty() ? " No similar text either; read the file again with read_file."
                          : "\n" + near + "Copy the text exactly as it appears in the file.";
      return ErrorResult(msg);
    }
    if (matches.size() > 1 && !replace_all) {
      return ErrorResult("old_string occurs " + std::to_string(matches.size()) + " times in '" +
                         path + "' (lines " + LineList(content, matches) +
                         "); include more surrounding lines to make it unique, or set "
                         "replace_all to true to replace every occurrence");
    }

    std::string updated;
    updated.reserve(content.size() + matches.size() * new_string.size());
    size_t copied = 0;
    for (size_t pos : matches) {
      updated.append(content, copied, pos - copied);
      updated += new_string;
      copied = pos + old_string.size();
    }
    updated.append(content, copied, std::string::npos);
    return Apply(*resolved, path, content, updated, matches.size(),
                 LineNumberAt(content, matches.front()), false, ctx);
  }

 private:
  // Writes `updated` and reports. `first_line` is where the first replacement starts (0 if none).
  static ToolResult Apply(const WorkspacePath& target, const std::string& shown,
                          const std::string& before, const std::string& updated,
                          size_t replacements, size_t first_line, bool created,
                          const ToolContext& ctx) {
    if (auto written = WriteFileAtomic(target.absolute, updated); !written) {
      return ErrorResult("cannot write '" + shown + "': " + written.error());
    }
    const std::string diff = SanitizeUtf8(UnifiedDiff(
        before, updated, created ? "/dev/null" : "a/" + target.relative, "b/" + target.relative));
    ToolResult r;
    if (created || before.empty()) {
      r.output = std::string(created ? "Created " : "Wrote the empty file ") + target.relative +
                 " (" + std::to_string(updated.size()) + " bytes, " +
                 std::to_string(CountLines(updated)) + " lines)";
    } else {
      r.output = "Edited " + target.relative + ": replaced " + std::to_string(replacements) +
                 (replacements == 1 ? " occurrence" : " occurrences") +
                 (first_line ? " (first at line " + std::to_string(first_line) + ")" : "");
    }
    HeadTailBuffer shown_diff(ctx.output_cap_bytes);
    shown_diff.Append(diff);
    r.output += "\n" + shown_diff.Finish();
    r.details = {{"path", target.relative},
                 {"replacements", replacements},
                 {"created", created},
                 {"diff", diff}};
    return r;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeEditFileTool() { return std::make_unique<EditFileTool>(); }

}  // namespace dsagent
