// StreamJsonPrinter: `--output-format stream-json` — the run as it happens, one JSON object per
// line (JSONL), each flushed as soon as it is written, so CI systems and editors can follow a run
// live. Every event has "type" and "ts" (UTC, ISO 8601 with ms); the schema is documented in
// README.md ("Streaming events") and kept stable: fields may be added, never renamed or removed.
//
// Events: session_start, route, model_call, retry, tool_call, tool_result, error and, last,
// result (the same envelope `--json` prints, plus "type" and "ts"). Tool results appear as a
// summary (sizes and a short preview) of the already redacted output. Not thread-safe; the loop
// calls it from one thread.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "agent/core/agent_loop.h"
#include "common/json.h"

namespace dsagent {

class StreamJsonPrinter : public AgentObserver {
 public:
  // Writes to `out` (stdout in the CLI); does not own it.
  explicit StreamJsonPrinter(std::FILE* out) : out_(out) {}

  void OnSessionStart(const SessionStartInfo& info) override;
  void OnRoute(int step, const Lane& lane, const Json& record) override;
  void OnStepStart(int step, const Lane& lane) override;
  void OnRetry(int attempt, const std::string& why, std::chrono::milliseconds delay) override;
  void OnResponse(int step, const Response& response, double cost_usd) override;
  void OnModelError(int step, const ProviderError& error, const Termination& termination) override;
  void OnToolStart(const ToolCall& call) override;
  void OnToolResult(const ToolCall& call, const ToolResult& result) override;
  void OnCompaction(int step, const Compaction& compaction, double miss_cost_usd) override;
  void OnToolsChanged(int step, const Json& changes, const std::string& note) override;

  // Any other event (e.g. `dsagent patch`'s "round" and "test" events): `event` must hold "type".
  void Emit(Json event);
  // The last event: "result" carrying `envelope` (EnvelopeToJson's object, or patch's). A run that
  // failed without an "error" event so far (e.g. bad config, before the session started) gets one
  // first, from the envelope's termination_reason, exit_code and error message.
  void Finish(const Json& envelope);

 private:
  std::FILE* out_;
  int step_ = 0;  // the step in progress; 0 before the first model call
  Lane lane_;     // its lane
  bool error_emitted_ = false;
  std::chrono::steady_clock::time_point tool_started_;
};

}  // namespace dsagent
