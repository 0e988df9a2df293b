// ProgressPrinter: the headless run's running commentary on stderr — step headers, streamed text,
// tool calls with a one-line result, retries, per-call usage and cost. Plain ASCII; no colour
// unless stderr is a terminal and NO_COLOR is unset.
#pragma once

#include <cstdio>

#include "agent/core/agent_loop.h"

namespace dsagent {

class ProgressPrinter : public AgentObserver {
 public:
  // `show_reasoning`: also stream the model's reasoning (dimmed on a terminal).
  ProgressPrinter(std::FILE* out, bool show_reasoning);

  void OnSessionStart(const SessionStartInfo& info) override;
  void OnStepStart(int step, const Lane& lane) override;
  void OnReasoningDelta(std::string_view text) override;
  void OnContentDelta(std::string_view text) override;
  void OnRetry(int attempt, const std::string& why, std::chrono::milliseconds delay) override;
  void OnResponse(int step, const Response& response, double cost_usd) override;
  void OnToolStart(const ToolCall& call) override;
  void OnToolResult(const ToolCall& call, const ToolResult& result) override;
  void OnCompaction(int step, const Compaction& compaction, double miss_cost_usd) override;
  void OnToolsChanged(int step, const Json& changes, const std::string& note) override;

 private:
  void EndLine();
  const char* Style(const char* code) const { return color_ ? code : ""; }

  std::FILE* out_;
  bool show_reasoning_;
  bool color_;
  bool mid_line_ = false;
  bool in_reasoning_ = false;
};

}  // namespace dsagent
