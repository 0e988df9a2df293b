// StepFeatures: what the router knows before a model call, derived only from what the loop has
// already seen (responses, usage, tool results) — so decisions are reproducible from the trace.
// FeatureTracker accumulates them. Token figures are in tokens, as the provider reported them,
// plus a bytes/4 estimate for tool output not yet seen by any model.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "agent/providers/provider.h"
#include "common/json.h"
#include "tools/tool.h"

namespace dsagent {

struct StepFeatures {
  int step = 0;       // 1-based model call index within this run
  int turn_step = 0;  // 1-based model call index since the last user message
  // "explore" (reading/searching), "edit" (last step changed files), "verify" (last step ran a
  // command); "start" before any tool ran in this turn.
  std::string phase = "start";
  int failures_since_success = 0;     // failing commands, edit misses, tool errors since the last
                                      // successful verify (a command that exited 0)
  int recent_failures = 0;            // failures in the last step's tool results
  int edit_misses = 0;                // edit_file failures in this turn
  int repeated_calls = 0;             // tool calls identical to one made earlier in this turn
  bool last_verify_passed = false;    // the last step ran a command and it succeeded
  bool last_step_mechanical = false;  // the last step's calls were all successful edits
  int64_t context_tokens = 0;         // estimated prompt tokens of the next request
  std::map<std::string, int64_t> unseen_tokens;  // per model: context tokens not in its cache
  double cost_so_far_usd = 0;
  double budget_usd = 0;           // the run's max cost
  int64_t mean_output_tokens = 0;  // average output per call so far (a default before any)

  Json ToJson() const;
};

class FeatureTracker {
 public:
  // A new user message starts a turn: per-turn counters reset.
  void StartTurn();
  // Before a model call: advance the step counters and return the features for it.
  StepFeatures Next(double cost_so_far_usd, double budget_usd);
  // After a model call by `model` with `usage` (prompt = hit + miss; output includes reasoning).
  void ObserveResponse(const std::string& model, const Usage& usage);
  // After each tool call of that response.
  void ObserveTool(const ToolCall& call, const ToolResult& result);
  // Seeds the context size for a resumed session (bytes of the rebuilt request).
  void SeedContextTokens(int64_t tokens) { context_tokens_ = tokens; }

 private:
  StepFeatures current_;
  int64_t context_tokens_ = 0;           // prompt tokens of the next request (estimate)
  std::map<std::string, int64_t> seen_;  // per model: context tokens its cache holds
  int64_t output_total_ = 0;
  int calls_ = 0;
  // Per-step tallies, folded into current_ at the next Next().
  int step_failures_ = 0, step_calls_ = 0, step_edits_ok_ = 0, step_commands_ = 0,
      step_commands_ok_ = 0, step_reads_ = 0;
  std::deque<std::string> turn_calls_;  // name + arguments of this turn's calls
};

}  // namespace dsagent
