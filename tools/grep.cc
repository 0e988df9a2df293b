#include "tools/grep.h"

#include <algorithm>
#include <boost/regex.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "common/file_io.h"
#include "common/utf8.h"
#include "tools/file_walk.h"
#include "tools/glob_pattern.h"
#include "tools/head_tail_buffer.h"
#include "tools/shown_name.h"
#include "tools/text_detect.h"
#include "tools/tool_util.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

constexpr uintmax_t kMaxFileBytes = 16u << 20;
constexpr size_t kMaxLineBytes = 500;  // longer lines (minified code) are cut in the output
constexpr int64_t kMaxContextLines = 20;
constexpr size_t kWalkEntriesPerClockCheck = 256;

struct Line {
  size_t number;  // 1-based
  std::string_view text;
};

std::vector<Line> SplitLines(std::string_view content) {
  std::vector<Line> lines;
  size_t start = 0;
  while (start < content.size()) {
    size_t nl = content.find('\n', start);
    if (nl == std::string_view::npos) nl = content.size();
    std::string_view text = content.substr(start, nl - start);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    lines.push_back({lines.size() + 1, text});
    start = nl + 1;
  }
  return lines;
}

std::string ShownText(std::string_view text) {
  if (text.size() <= kMaxLineBytes) return SanitizeUtf8(text);
  return SanitizeUtf8(text.substr(0, Utf8SafePrefixLength(text, kMaxLineBytes))) +
         " [... line cut, " + std::to_string(text.size()) + " bytes]";
}

// grep's time limit (ToolContext::grep_time_limit_s) on ToolContext's clock.
class GrepClock {
 public:
  explicit GrepClock(const ToolContext& ctx)
      : now_(ctx.clock ? ctx.clock : [] { return std::chrono::steady_clock::now(); }),
        limit_s_(ctx.grep_time_limit_s),
        start_(now_()) {}
  bool Expired() const {
    return limit_s_ > 0 && std::chrono::duration<double>(now_() - start_).count() >= limit_s_;
  }

 private:
  std::function<std::chrono::steady_clock::time_point()> now_;
  double limit_s_;
  std::chrono::steady_clock::time_point start_;
};

// What the model reads when the time limit stopped the search: how far it got, in which order,
// and how to get the rest.
std::string TimeLimitNote(double limit_s, size_t searched,
                          const std::vector<std::pair<std::string, fs::path>>& files,
                          bool walk_cut) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%g", limit_s);
  std::string note = "[stopped after " + std::string(seconds) +
                     " s (tools.grep_time_limit_s); results are partial: ";
  if (walk_cut) {
    note += "the time ran out while listing files (" + std::to_string(files.size()) +
            " found so far), before any was searched";
  } else {
    note += std::to_string(searched) + " of " + std::to_string(files.size()) +
            " files searched in path order";
    if (searched > 0) note += ", up to " + ShownName(files[searched - 1].first);
  }
  return note + ". Narrow the search with path or glob (e.g. one directory at a time)]\n";
}

// The search of one call: options, running totals and the output being built.
class Search {
 public:
  Search(const boost::regex& re, size_t context, size_t max_matches, size_t output_cap)
      : re_(re), context_(context), max_matches_(max_matches), out_(output_cap) {}

  // Searches one file; returns false once the match cap is reached. Throws boost's
  // std::runtime_error when the regex becomes too expensive on some line.
  bool SearchFile(const fs::path& abs, const std::string& shown) {
    std::error_code ec;
    if (fs::file_size(abs, ec) > kMaxFileBytes || ec) {
      ++skipped_large_;
      return true;
    }
    auto content = ReadFileToString(abs);
    if (!content || LooksBinary(std::string_view(*content).substr(0, kBinarySniffBytes))) {
      return true;
    }
    const std::vector<Line> lines = SplitLines(*content);
    std::vector<size_t> hits;  // indices into lines
    for (size_t i = 0; i < lines.size(); ++i) {
      if (boost::regex_search(lines[i].text.begin(), lines[i].text.end(), re_,
                              boost::match_default | boost::match_not_dot_newline)) {
        if (matches_ == max_matches_) {
          truncated_ = true;
          break;
        }
        hits.push_back(i);
        ++matches_;
      }
    }
    if (!hits.empty()) Emit(lines, hits, shown);
    return !truncated_;
  }

  size_t matches() const { return matches_; }
  size_t files_with_matches() const { return files_; }
  size_t skipped_large() const { return skipped_large_; }
  bool truncated() const { return truncated_; }
  std::string Finish() const { return out_.Finish(); }

 private:
  void Emit(const std::vector<Line>& lines, const std::vector<size_t>& hits,
            const std::string& shown) {
    ++files_;
    size_t next_unprinted = 0;  // first line index not yet printed for this file
    for (size_t h = 0; h < hits.size(); ++h) {
      const size_t from = hits[h] >= context_ ? hits[h] - context_ : 0;
      const size_t begin = std::max(from, next_unprinted);
      // Like grep: "--" between groups of lines that are not contiguous.
      const bool contiguous = h > 0 && begin == next_unprinted;
      if (context_ > 0 && emitted_any_ && !contiguous) out_.Append("--\n");
      emitted_any_ = true;
      const size_t end = std::min(hits[h] + context_ + 1, lines.size());
      for (size_t i = begin; i < end; ++i) {
        const bool is_hit = std::binary_search(hits.begin(), hits.end(), i);
        const char sep = is_hit ? ':' : '-';
        out_.Append(ShownName(shown) + sep + std::to_string(lines[i].number) + sep +
                    ShownText(lines[i].text) + "\n");
      }
      next_unprinted = end;
    }
  }

  const boost::regex& re_;
  const size_t context_;
  const size_t max_matches_;
  HeadTailBuffer out_;
  size_t matches_ = 0;
  size_t files_ = 0;
  size_t skipped_large_ = 0;
  bool truncated_ = false;
  bool emitted_any_ = false;
};

class GrepTool : public Tool {
 public:
  std::string Name() const override { return "grep"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "pattern": {"type": "string", "description": "Perl-style regular expression matched against each line (e.g. \"fn\\\\s+parse_\\\\w+\")."},
        "path": {"type": "string", "description": "File or directory to search, relative to the workspace root. Default: the workspace root."},
        "glob": {"type": "string", "description": "Only search files matching this glob, e.g. \"*.py\" (base name) or \"src/**/*.h\" (path relative to path)."},
        "case_insensitive": {"type": "boolean", "description": "Ignore case. Default false."},
        "context_lines": {"type": "integer", "minimum": 0, "description": "Lines of context to show before and after each match (at most 20). Default 0."}
      },
      "required": ["pattern"],
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const std::string pattern = StringArg(args, "pattern");
    const std::string path = StringArg(args, "path", ".");
    const bool has_glob = HasArg(args, "glob");
    const GlobPattern glob(StringArg(args, "glob"));
    const int64_t context = IntArg(args, "context_lines", 0);
    if (pattern.empty()) return ErrorResult("pattern is empty");
    if (context < 0) return ErrorResult("context_lines must not be negative");

    boost::regex re;
    try {
      boost::regex::flag_type flags = boost::regex::perl;
      if (BoolArg(args, "case_insensitive", false)) flags |= boost::regex::icase;
      re.assign(pattern, flags);
    } catch (const std::exception& e) {
      return ErrorResult("invalid regex '" + pattern + "': " + e.what());
    }

    // The time limit covers the walk and the search; it is checked between files, so one huge
    // file is still searched whole (files over 16 MiB are skipped anyway).
    GrepClock clock(ctx);
    auto target = ResolveWorkspacePath(ctx.workspace, path, PathAccess::kRead);
    if (!target) return ErrorResult(target.error());
    std::error_code ec;
    std::vector<std::pair<std::string, fs::path>> files;  // (workspace-relative, absolute)
    size_t links_outside = 0;  // links to files outside the workspace: never read
    bool walk_cut = false;     // the time limit ended the walk: more files than `files` exist
    size_t walked = 0;         // entries the walk has seen
    if (fs::is_regular_file(target->absolute, ec)) {
      files.emplace_back(target->relative, target->absolute);
    } else {
      auto root = ResolveWalkRoot(ctx.workspace, path);
      if (!root) return ErrorResult(root.error());
      WorkspaceWalker walker(ctx.workspace);
      walker.Walk(root->absolute, 0, [&](const WalkEntry& e) {
        if (ctx.cancel.IsCancelled()) return WalkAction::kStop;
        // Reading the clock per entry would cost more than the check is worth.
        if (++walked % kWalkEntriesPerClockCheck == 0 && clock.Expired()) {
          walk_cut = true;
          return WalkAction::kStop;
        }
        const std::string rel = e.absolute.lexically_relative(root->absolute).generic_string();
        if (e.is_directory) {
          return !has_glob || !glob.HasSlash() || glob.CouldMatchBelow(rel)
                     ? WalkAction::kContinue
                     : WalkAction::kSkipChildren;
        }
        if (has_glob && !glob.Matches(glob.HasSlash() ? rel : e.absolute.filename().string())) {
          return WalkAction::kContinue;
        }
        if (!fs::is_regular_file(e.absolute, ec)) return WalkAction::kContinue;
        // A link is searched only when it leads to a file inside the workspace (the hostile
        // repository test found grep printing a linked file from outside).
        if (fs::is_symlink(fs::symlink_status(e.absolute, ec)) &&
            !ResolveWorkspacePath(ctx.workspace, e.relative, PathAccess::kRead)) {
          ++links_outside;
          return WalkAction::kContinue;
        }
        files.emplace_back(e.relative, e.absolute);
        return WalkAction::kContinue;
      });
    }
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return fs::path(a.first) < fs::path(b.first); });

    Search search(re, static_cast<size_t>(std::min(context, kMaxContextLines)),
                  ctx.grep_max_matches, ctx.output_cap_bytes);
    size_t searched = 0;
    try {
      for (const auto& [shown, abs] : files) {
        if (ctx.cancel.IsCancelled()) return ErrorResult("interrupted");
        if (walk_cut || clock.Expired()) break;
        ++searched;
        if (!search.SearchFile(abs, shown)) break;
      }
    } catch (const std::exception& e) {
      return ErrorResult("regex '" + pattern + "' is too expensive to match: " + e.what() +
                         "; simplify it");
    }

    const bool timed_out = walk_cut || (searched < files.size() && !search.truncated());
    ToolResult r;
    r.output = search.Finish();
    if (search.matches() == 0) {
      r.output = "no matches for '" + pattern + "' in " +
                 (target->relative == "." ? std::string("the workspace") : target->relative) +
                 " (" + std::to_string(searched) + " files searched)\n";
    }
    if (timed_out) r.output += TimeLimitNote(ctx.grep_time_limit_s, searched, files, walk_cut);
    if (search.truncated()) {
      r.output += "[stopped after " + std::to_string(ctx.grep_max_matches) +
                  " matches; narrow the pattern, path or glob]\n";
    }
    if (links_outside > 0) {
      r.output += "[" + std::to_string(links_outside) +
                  " symbolic links to files outside the workspace were not searched]\n";
    }
    if (search.skipped_large() > 0) {
      r.output +=
          "[" + std::to_string(search.skipped_large()) + " files over 16 MiB were not searched]\n";
    }
    r.details = {{"matches", search.matches()},
                 {"files", search.files_with_matches()},
                 {"truncated", search.truncated()},
                 {"timed_out", timed_out},
                 {"files_searched", searched}};
    return r;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeGrepTool() { return std::make_unique<GrepTool>(); }

}  // namespace dsagent
