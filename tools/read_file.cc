#include "tools/read_file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>

#include "common/utf8.h"
#include "tools/missing_path.h"
#include "tools/text_detect.h"
#include "tools/tool_util.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

constexpr size_t kChunkBytes = size_t{64} * 1024;

// The numbered slice of a file, gathered in one streaming pass (the file may be far larger than
// what is shown; only the requested lines are kept, the rest are counted).
struct Slice {
  std::string text;
  size_t first_line = 0;  // 1-based; 0 if nothing shown
  size_t last_line = 0;
  size_t total_lines = 0;
  bool over_cap = false;         // the requested range did not fit in read_max_bytes
  size_t last_fitting_line = 0;  // with over_cap: the last line that still fitted (0: none)
  size_t first_line_bytes = 0;   // size of the first requested line (for the "alone" message)
};

class SliceReader {
 public:
  SliceReader(size_t start, size_t end, size_t cap_bytes)
      : start_(start), end_(end), cap_bytes_(cap_bytes) {}

  void Feed(std::string_view chunk) {
    while (!chunk.empty()) {
      const size_t nl = chunk.find('\n');
      const std::string_view segment = chunk.substr(0, nl);
      if (Wanted()) {
        // A single enormous line must not be buffered whole: past the cap it is refused anyway.
        const size_t room = cap_bytes_ + 1 > line_.size() ? cap_bytes_ + 1 - line_.size() : 0;
        line_.append(segment.substr(0, room));
      }
      line_bytes_ += segment.size();
      if (nl == std::string_view::npos) return;
      EndLine();
      chunk.remove_prefix(nl + 1);
    }
  }

  Slice Finish() {
    if (line_bytes_ > 0) EndLine();  // last line without a newline
    slice_.total_lines = line_no_ - 1;
    return std::move(slice_);
  }

 private:
  bool Wanted() const { return line_no_ >= start_ && line_no_ <= end_ && !slice_.over_cap; }

  void EndLine() {
    if (line_no_ == start_) slice_.first_line_bytes = line_bytes_;
    if (Wanted()) {
      std::string_view text(line_);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      // "%6zu\t", the line, "\n": written straight into the slice (formatting each line with
      // snprintf into a temporary was most of a read_file call's work).
      const std::string clean = SanitizeUtf8(text);
      const std::string digits = std::to_string(line_no_);
      const size_t pad = digits.size() < 6 ? 6 - digits.size() : 0;
      const size_t formatted_size = pad + digits.size() + 1 + clean.size() + 1;
      if (line_bytes_ > cap_bytes_ || slice_.text.size() + formatted_size > cap_bytes_) {
        slice_.over_cap = true;
        slice_.last_fitting_line = slice_.last_line;
      } else {
        slice_.text.append(pad, ' ');
        slice_.text += digits;
        slice_.text.push_back('\t');
        slice_.text += clean;
        slice_.text.push_back('\n');
        if (slice_.first_line == 0) slice_.first_line = line_no_;
        slice_.last_line = line_no_;
      }
    }
    line_.clear();
    line_bytes_ = 0;
    ++line_no_;
  }

  const size_t start_, end_, cap_bytes_;
  size_t line_no_ = 1;
  std::string line_;
  size_t line_bytes_ = 0;
  Slice slice_;
};

class ReadFileTool : public Tool {
 public:
  std::string Name() const override { return "read_file"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "path": {"type": "string", "description": "File to read, relative to the workspace root (or absolute inside it)."},
        "start_line": {"type": "integer", "minimum": 1, "description": "First line to show, 1-based. Default 1."},
        "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show, inclusive. Default: a fixed number of lines after start_line."}
      },
      "required": ["path"],
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const std::string path = StringArg(args, "path");
    auto resolved = ResolveWorkspacePath(ctx.workspace, path, PathAccess::kRead);
    if (!resolved) return ErrorResult(resolved.error());
    const fs::path& abs = resolved->absolute;
    std::error_code ec;
    const fs::file_status st = fs::status(abs, ec);
    if (!fs::exists(st)) return ErrorResult(MissingPathMessage(ctx.workspace, abs, path));
    if (fs::is_directory(st)) {
      return ErrorResult("'" + path + "' is a directory; use list_files to see what it contains");
    }
    if (!fs::is_regular_file(st)) {
      return ErrorResult("'" + path + "' is not a regular file (a device, FIFO or socket)");
    }
    auto binary = FileLooksBinary(abs);
    if (!binary) return ErrorResult("cannot read '" + path + "': " + binary.error());
    if (*binary) {
      return ErrorResult("'" + path + "' looks like a binary file (" +
                         std::to_string(fs::file_size(abs, ec)) +
                         " bytes); read_file shows text only. Inspect it with bash instead "
                         "(e.g. `file`, `xxd | head`).");
    }

    const int64_t start = IntArg(args, "start_line", 1);
    const bool has_end = HasArg(args, "end_line");
    // Saturating: start_line may be anything up to INT64_MAX.
    const auto span = static_cast<int64_t>(
        std::min<size_t>(ctx.read_default_lines, std::numeric_limits<int64_t>::max() / 2));
    const int64_t end = has_end ? IntArg(args, "end_line", start)
                        : start > std::numeric_limits<int64_t>::max() - span
                            ? std::numeric_limits<int64_t>::max()
                            : start + std::max<int64_t>(span, 1) - 1;
    if (start < 1) return ErrorResult("start_line must be at least 1");
    if (end < start) {
      return ErrorResult("end_line (" + std::to_string(end) + ") is before start_line (" +
                         std::to_string(start) + ")");
    }

    std::ifstream in(abs, std::ios::binary);
    if (!in) return ErrorResult("cannot open '" + path + "': " + std::strerror(errno));
    SliceReader reader(static_cast<size_t>(start), static_cast<size_t>(end), ctx.read_max_bytes);
    std::string chunk(kChunkBytes, '\0');
    while (in) {
      if (ctx.cancel.IsCancelled()) return ErrorResult("interrupted");
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      reader.Feed(std::string_view(chunk.data(), static_cast<size_t>(in.gcount())));
    }
    if (in.bad()) return ErrorResult("error while reading '" + path + "'");
    const Slice slice = reader.Finish();
    return Render(path, resolved->relative, static_cast<size_t>(start), has_end, slice,
                  ctx.read_max_bytes);
  }

 private:
  static ToolResult Render(const std::string& path, const std::string& relative, size_t start,
                           bool has_end, const Slice& slice, size_t cap_bytes) {
    const std::string cap = std::to_string(cap_bytes);
    if (slice.total_lines == 0) {
      ToolResult r;
      r.output = "[" + path + " is empty]";
      r.details = {{"path", relative}, {"total_lines", 0}};
      return r;
    }
    if (start > slice.total_lines) {
      return ErrorResult("start_line " + std::to_string(start) + " is past the end of '" + path +
                         "' (" + std::to_string(slice.total_lines) + " lines)");
    }
    if (slice.over_cap) {
      if (slice.last_fitting_line == 0) {
        return ErrorResult("line " + std::to_string(start) + " of '" + path + "' alone is " +
                           std::to_string(slice.first_line_bytes) + " bytes, more than the " + cap +
                           "-byte read limit; use grep to find what you need, or bash "
                           "(e.g. `cut -c1-2000`) to read part of it");
      }
      return ErrorResult(
          "the requested lines of '" + path + "' exceed the " + cap +
          "-byte read limit; read a smaller range, e.g. start_line=" + std::to_string(start) +
          " end_line=" + std::to_string(slice.last_fitting_line));
    }
    ToolResult r;
    r.output = slice.text;
    const size_t remaining = slice.total_lines - slice.last_line;
    if (remaining > 0) {
      r.output += "[showing lines " + std::to_string(slice.first_line) + "-" +
                  std::to_string(slice.last_line) + " of " + std::to_string(slice.total_lines) +
                  "; " + std::to_string(remaining) + " more line" + (remaining == 1 ? "" : "s") +
                  ": read them with start_line=" + std::to_string(slice.last_line + 1) + "]\n";
    } else if (has_end || start > 1) {
      r.output += "[end of file: " + std::to_string(slice.total_lines) + " lines]\n";
    }
    r.details = {{"path", relative},
                 {"start_line", slice.first_line},
                 {"end_line", slice.last_line},
                 {"total_lines", slice.total_lines}};
    return r;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeReadFileTool() { return std::make_unique<ReadFileTool>(); }

}  // namespace dsagent
