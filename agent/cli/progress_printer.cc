#include "agent/cli/progress_printer.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "agent/core/cost_ledger.h"
#include "tools/tool_util.h"

namespace dsagent {
namespace {
constexpr const char* kDim = "\033[2m";
constexpr const char* kBold = "\033[1m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kYellow = "\033[33m";
constexpr const char* kReset = "\033[0m";

std::string OneLine(std::string_view s, size_t max_chars) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  }
  return out;
}
}  // namespace

ProgressPrinter::ProgressPrinter(std::FILE* out, bool show_reasoning)
    : out_(out),
      show_reasoning_(show_reasoning),
      color_(::isatty(::fileno(out)) && std::getenv("NO_COLOR") == nullptr) {}

void ProgressPrinter::EndLine() {
  if (in_reasoning_) std::fputs(Style(kReset), out_);
  in_reasoning_ = false;
  if (mid_line_) std::fputc('\n', out_);
  mid_line_ = false;
}

void ProgressPrinter::OnSessionStart(const SessionStartInfo& info) {
  std::fprintf(out_, "dsagent: session %s (%s, %s)\n", info.session_id.c_str(),
               info.provider.c_str(), info.lane.model.c_str());
  std::fflush(out_);
}

void ProgressPrinter::OnStepStart(int step, const Lane& lane) {
  EndLine();
  std::fprintf(out_, "%s[step %d] %s%s%s\n", Style(kBold), step, lane.model.c_str(),
               lane.thinking ? (" (thinking, " + lane.effort + ")").c_str() : " (no thinking)",
               Style(kReset));
  std::fflush(out_);
}

void ProgressPrinter::OnReasoningDelta(std::string_view text) {
  if (!show_reasoning_ || text.empty()) return;
  if (!in_reasoning_) std::fputs(Style(kDim), out_);
  in_reasoning_ = true;
  std::fwrite(text.data(), 1, text.size(), out_);
  mid_line_ = text.back() != '\n';
  std::fflush(out_);
}

void ProgressPrinter::OnContentDelta(std::string_view text) {
  if (text.empty()) return;
  if (in_reasoning_) {
    std::fputs(Style(kReset), out_);
    if (mid_line_) std::fputc('\n', out_);
    in_reasoning_ = false;
  }
  std::fwrite(text.data(), 1, text.size(), out_);
  mid_line_ = text.back() != '\n';
  std::fflush(out_);
}

void ProgressPrinter::OnRetry(int attempt, const std::string& why,
                              std::chrono::milliseconds delay) {
  EndLine();
  std::fprintf(out_, "  retry %d in %.1fs: %s\n", attempt, delay.count() / 1000.0,
               OneLine(why, 200).c_str());
  std::fflush(out_);
}

void ProgressPrinter::OnResponse(int, const Response& r, double cost_usd) {
  EndLine();
  const int64_t input = r.usage.input_cache_hit + r.usage.input_cache_miss;
  std::fprintf(out_, "%s  %lld in (%.0f%% cached), %lld out, $%.4f%s\n", Style(kDim),
               static_cast<long long>(input), 100.0 * CacheHitRate(r.usage),
               static_cast<long long>(r.usage.output), cost_usd, Style(kReset));
  std::fflush(out_);
}

void ProgressPrinter::OnToolStart(const ToolCall& call) {
  EndLine();
  std::fprintf(out_, "  -> %s %s\n", call.name.c_str(), OneLine(call.arguments, 160).c_str());
  std::fflush(out_);
}

void ProgressPrinter::OnToolResult(const ToolCall&, const ToolResult& result) {
  if (result.ok) {
    const std::string first = OneLine(result.output.substr(0, result.output.find('\n')), 160);
    std::fprintf(out_, "%s     ok: %s%s\n", Style(kDim), first.c_str(), Style(kReset));
  } else {
    const std::string first = OneLine(ToolErrorHeadline(result), 160);
    std::fprintf(out_, "%s     error: %s%s\n", Style(kRed), first.c_str(), Style(kReset));
  }
  std::fflush(out_);
}

void ProgressPrinter::OnCompaction(int, const Compaction& compaction, double miss_cost_usd) {
  EndLine();
  std::fprintf(out_, "%s%s%s\n", Style(kYellow),
               DescribeCompaction(compaction, miss_cost_usd).c_str(), Style(kReset));
  std::fflush(out_);
}

void ProgressPrinter::OnToolsChanged(int, const Json&, const std::string& note) {
  EndLine();
  std::fprintf(out_, "%s%s%s\n", Style(kYellow), note.c_str(), Style(kReset));
  std::fflush(out_);
}

}  // namespace dsagent
