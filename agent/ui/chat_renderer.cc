#include "agent/ui/chat_renderer.h"

#include <algorithm>
#include <cstdio>

#include "agent/ui/diff_view.h"
#include "agent/ui/fold.h"
#include "agent/ui/status_line.h"
#include "agent/ui/tool_view.h"

namespace dsagent {
namespace {
size_t EstimateTokens(size_t bytes) { return (bytes + 3) / 4; }
}  // namespace

std::string ChatRenderer::ThinkingLine() const {
  return "thinking… (" + std::to_string(EstimateTokens(reasoning_bytes_)) + " tokens)";
}

void ChatRenderer::FinishReasoning() {
  if (!in_reasoning_) return;
  in_reasoning_ = false;
  if (options_.show_reasoning) {
    screen_.EndLine();
    return;
  }
  // The live line (terminals) is replaced by the final count; plain output gets one line.
  screen_.ClearRewritten();
  screen_.Line(screen_.Paint(Style::kDim, ThinkingLine()));
}

void ChatRenderer::Settle() {
  FinishReasoning();
  screen_.EndLine();
  screen_.Flush();
}

void ChatRenderer::OnStepStart(int, const Lane& lane) {
  if (have_lane_ && lane != last_lane_) {
    Settle();
    screen_.Line(screen_.Paint(Style::kDim, "↪ " + LaneLabel(last_lane_) + " → " + LaneLabel(lane) +
                                                " (" + lane.model + ")"));
  }
  last_lane_ = lane;
  have_lane_ = true;
  reasoning_bytes_ = 0;
  shown_tokens_ = 0;
}

void ChatRenderer::OnReasoningDelta(std::string_view text) {
  if (text.empty()) return;
  if (!in_reasoning_) {
    screen_.EndLine();
    in_reasoning_ = true;
  }
  reasoning_bytes_ += text.size();
  if (options_.show_reasoning) {
    screen_.Write(screen_.Paint(Style::kDim, text));
    screen_.Flush();
    return;
  }
  const size_t tokens = EstimateTokens(reasoning_bytes_);
  if (shown_tokens_ == 0 || tokens >= shown_tokens_ + 8) {
    shown_tokens_ = tokens;
    screen_.Rewrite(screen_.Paint(Style::kDim, ThinkingLine()));
  }
}

void ChatRenderer::OnContentDelta(std::string_view text) {
  if (text.empty()) return;
  FinishReasoning();
  screen_.Write(text);
  screen_.Flush();
}

void ChatRenderer::OnToolCallStart(std::string_view, std::string_view) { FinishReasoning(); }

void ChatRenderer::OnRetry(int attempt, const std::string& why, std::chrono::milliseconds delay) {
  Settle();
  char buf[64];
  std::snprintf(buf, sizeof buf, "retry %d in %.1fs: ", attempt, delay.count() / 1000.0);
  screen_.Line(screen_.Paint(Style::kDim, FitWidth(buf + why, screen_.width())));
  screen_.Flush();
}

void ChatRenderer::OnResponse(int, const Response& response, double) {
  Settle();
  if (!response.message.reasoning.empty()) last_reasoning_ = response.message.reasoning;
}

void ChatRenderer::OnToolStart(const ToolCall& call) {
  Settle();
  const int width = screen_.width();
  const std::string head = "● " + call.name;
  const std::string arg = ToolKeyArgument(call);
  const int room = width > 0 ? std::max(8, width - static_cast<int>(DisplayWidth(head)) - 2) : 0;
  screen_.Line(screen_.Paint(Style::kBold, head) + (arg.empty() ? "" : "  " + FitWidth(arg, room)));
  screen_.Flush();
}

void ChatRenderer::OnCompaction(int, const Compaction& compaction, double miss_cost_usd) {
  Settle();
  screen_.Line(screen_.Paint(
      Style::kYellow, FitWidth(DescribeCompaction(compaction, miss_cost_usd), screen_.width())));
  screen_.Flush();
}

void ChatRenderer::OnToolsChanged(int, const Json&, const std::string& note) {
  Settle();
  screen_.Line(screen_.Paint(Style::kYellow, note));
  screen_.Flush();
}

void ChatRenderer::OnToolResult(const ToolCall& call, const ToolResult& result) {
  Settle();
  const int width = screen_.width();
  const std::string summary = FitWidth("  ⎿ " + ToolResultSummary(call, result), width);
  screen_.Line(screen_.Paint(result.ok ? Style::kDim : Style::kRed, summary));
  const bool diff_shown = !skip_diff_for_.empty() && call.id == skip_diff_for_;
  skip_diff_for_.clear();
  if (const std::string diff = ToolResultDiff(result); !diff.empty() && result.ok) {
    if (!diff_shown) ShowDiff(screen_, diff, options_.diff_max_lines, "    ");
  } else if (const std::string body = ToolResultBody(call, result); !body.empty()) {
    const FoldedText folded = FoldLines(body, options_.fold_head, options_.fold_tail);
    const int room = width > 0 ? std::max(8, width - 4) : 0;
    for (const std::string& line : folded.lines) {
      screen_.Line("    " +
                   screen_.Paint(result.ok ? Style::kDim : Style::kRed, FitWidth(line, room)));
    }
  }
  screen_.Flush();
}

}  // namespace dsagent
