// ChatRenderer: the interactive assistant's view of a turn. The answer streams as it arrives; the
// reasoning collapses to one dim "thinking… (N tokens)" line (or streams dimmed in full when
// shown); each tool call is one line (tool + key argument) with a result summary underneath;
// edits show their coloured diff, shell output and errors show folded; lane switches and retries
// are dim notes. Rendering only: usage accounting and edit tracking live elsewhere.
#pragma once

#include <string>

#include "agent/core/agent_loop.h"
#include "agent/ui/screen.h"

namespace dsagent {

class ChatRenderer : public AgentObserver {
 public:
  struct Options {
    bool show_reasoning = false;  // stream the reasoning text instead of a one-line summary
    size_t fold_head = 6;         // shell output / error lines kept before the fold
    size_t fold_tail = 4;         // ... and after it
    size_t diff_max_lines = 40;   // diff lines shown before folding
  };
  ChatRenderer(Screen& screen, Options options) : screen_(screen), options_(options) {}

  void set_show_reasoning(bool on) { options_.show_reasoning = on; }
  bool show_reasoning() const { return options_.show_reasoning; }
  // The reasoning of the latest response that had any ("" before).
  const std::string& last_reasoning() const { return last_reasoning_; }

  void OnStepStart(int step, const Lane& lane) override;
  void OnReasoningDelta(std::string_view text) override;
  void OnContentDelta(std::string_view text) override;
  void OnToolCallStart(std::string_view id, std::string_view name) override;
  void OnRetry(int attempt, const std::string& why, std::chrono::milliseconds delay) override;
  void OnResponse(int step, const Response& response, double cost_usd) override;
  void OnToolStart(const ToolCall& call) override;
  void OnToolResult(const ToolCall& call, const ToolResult& result) override;
  void OnCompaction(int step, const Compaction& compaction, double miss_cost_usd) override;
  void OnToolsChanged(int step, const Json& changes, const std::string& note) override;

  // The diff of call `call_id` is already on screen (the approval prompt showed it): its result
  // shows only the summary line.
  void SkipDiffFor(std::string call_id) { skip_diff_for_ = std::move(call_id); }

  // Ends whatever is being streamed (a collapsed reasoning line, a partial answer line); call
  // before printing anything else, e.g. after an interrupted step.
  void Settle();

 private:
  void FinishReasoning();
  std::string ThinkingLine() const;

  Screen& screen_;
  Options options_;
  bool in_reasoning_ = false;
  size_t reasoning_bytes_ = 0;
  size_t shown_tokens_ = 0;  // the count the live line shows
  std::string last_reasoning_;
  std::string skip_diff_for_;
  Lane last_lane_;
  bool have_lane_ = false;
};

}  // namespace dsagent
