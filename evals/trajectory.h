// Per-task trajectories, RUN_DIR/trajs/<instance_id>.jsonl: the conversation of an agent's
// session in a stable, documented shape (docs/evals.md), derived from its session trace
// (traces/<id>.jsonl, whose event set may grow). One JSON object per line, in order:
//   {"role": "system", "content": "<system prompt>"}                      (first line)
//   {"role": "user", "content": "..."}                                   (task, retry message)
//   {"role": "assistant", "step": 1, "content": "...", "reasoning": "...",
//    "tool_calls": [{"id", "name", "arguments"}], "model": "deepseek-v4-flash",
//    "usage": {...}, "cost_usd": 0.0012}
//   {"role": "tool", "step": 1, "tool_call_id": "...", "name": "edit_file", "ok": true,
//    "content": "<tool output>", "duration_ms": 12}
// Every line also has "ts" (the trace event's time). Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"

namespace dsagent::evals {

// The trajectory lines of a trace's events (agent/core/trace.h's ReadTrace output).
std::vector<Json> TrajectoryFromTrace(const std::vector<Json>& events);

}  // namespace dsagent::evals
