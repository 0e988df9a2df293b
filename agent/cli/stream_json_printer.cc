#include "agent/cli/stream_json_printer.h"

#include <algorithm>
#include <string_view>

#include "agent/core/cost_ledger.h"
#include "agent/core/trace.h"
#include "common/utf8.h"

namespace dsagent {
namespace {

constexpr size_t kMaxArgumentBytes = 2000;  // tool_call.arguments beyond this are cut
constexpr size_t kPreviewBytes = 400;       // tool_result.preview

// The first `max_bytes` of `text` (never splitting a UTF-8 sequence) and whether it was cut.
std::pair<std::string, bool> Truncated(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return {std::string(text), false};
  return {std::string(text.substr(0, Utf8SafePrefixLength(text, max_bytes))), true};
}

size_t LineCount(std::string_view text) {
  const auto newlines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  return newlines + (!text.empty() && text.back() != '\n' ? 1 : 0);
}

Json LaneJson(const Lane& lane) {
  return {{"model", lane.model}, {"thinking", lane.thinking}, {"effort", lane.effort}};
}

}  // namespace

void StreamJsonPrinter::Emit(Json event) {
  event["ts"] = UtcTimestamp();
  const std::string line = CanonicalJson(event) + "\n";
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

void StreamJsonPrinter::OnSessionStart(const SessionStartInfo& info) {
  Emit({{"type", "session_start"},
        {"schema_version", 1},
        {"session_id", info.session_id},
        {"resumed", info.resumed},
        {"provider", info.provider},
        {"lane", LaneJson(info.lane)},
        {"routing_policy", info.routing_policy.empty() ? Json(nullptr) : Json(info.routing_policy)},
        {"limits",
         {{"max_steps", info.limits.max_steps},
          {"max_cost_usd", info.limits.max_cost_usd},
          {"timeout_s", info.limits.timeout_s}}},
        {"workspace", info.workspace},
        {"trace_path", info.trace_path}});
}

void StreamJsonPrinter::OnRoute(int step, const Lane& lane, const Json& record) {
  Emit({{"type", "route"}, {"step", step}, {"lane", LaneJson(lane)}, {"decision", record}});
}

void StreamJsonPrinter::OnStepStart(int step, const Lane& lane) {
  step_ = step;
  lane_ = lane;
}

void StreamJsonPrinter::OnRetry(int attempt, const std::string& why,
                                std::chrono::milliseconds delay) {
  Emit({{"type", "retry"},
        {"step", step_},
        {"attempt", attempt},
        {"reason", why},
        {"delay_ms", delay.count()}});
}

void StreamJsonPrinter::OnResponse(int step, const Response& r, double cost_usd) {
  Emit({{"type", "model_call"},
        {"step", step},
        {"lane", LaneJson(lane_)},
        {"served_model", r.served_model},
        {"finish_reason", r.finish_reason},
        {"usage", UsageToJson(r.usage)},
        {"cache_hit_rate", CacheHitRate(r.usage)},
        {"cost_usd", cost_usd},
        {"attempts", r.attempts},
        {"latency_s", r.latency_s},
        {"request_id", r.request_id},
        {"text", r.message.content},
        {"tool_calls", r.message.tool_calls.size()}});
}

void StreamJsonPrinter::OnModelError(int step, const ProviderError& error,
                                     const Termination& termination) {
  error_emitted_ = true;
  Emit({{"type", "error"},
        {"step", step},
        {"termination_reason", termination.Name()},
        {"exit_code", termination.ExitCode()},
        {"http_status", error.http_status == 0 ? Json(nullptr) : Json(error.http_status)},
        {"message", error.message}});
}

void StreamJsonPrinter::OnToolStart(const ToolCall& call) {
  tool_started_ = std::chrono::steady_clock::now();
  auto [arguments, cut] = Truncated(call.arguments, kMaxArgumentBytes);
  Emit({{"type", "tool_call"},
        {"step", step_},
        {"id", call.id},
        {"name", call.name},
        {"arguments", std::move(arguments)},
        {"arguments_truncated", cut}});
}

void StreamJsonPrinter::OnCompaction(int step, const Compaction& compaction, double miss_cost_usd) {
  Emit({{"type", "compaction"},
        {"step", step},
        {"elided", compaction.replaced.size()},
        {"tokens_before", compaction.tokens_before},
        {"tokens_after", compaction.tokens_after},
        {"uncached_tokens", compaction.uncached_tokens},
        {"miss_cost_usd", miss_cost_usd}});
}

void StreamJsonPrinter::OnToolsChanged(int step, const Json& changes, const std::string& note) {
  Json event = {{"type", "tools_changed"}, {"step", step}};
  for (const char* key : {"added", "changed", "removed"}) {
    event[key] = changes.value(key, Json::array());
  }
  event["note"] = note;
  Emit(std::move(event));
}

void StreamJsonPrinter::OnToolResult(const ToolCall& call, const ToolResult& result) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - tool_started_)
                      .count();
  auto [preview, cut] = Truncated(result.output, kPreviewBytes);
  const bool has_exit_code = result.details.is_object() && result.details.contains("exit_code");
  Emit({{"type", "tool_result"},
        {"step", step_},
        {"id", call.id},
        {"name", call.name},
        {"ok", result.ok},
        {"exit_code", has_exit_code ? result.details["exit_code"] : Json(nullptr)},
        {"details", result.details.is_null() ? Json::object() : result.details},
        {"duration_ms", ms},
        {"bytes", result.output.size()},
        {"lines", LineCount(result.output)},
        {"preview", std::move(preview)},
        {"truncated", cut}});
}

void StreamJsonPrinter::Finish(const Json& envelope) {
  if (envelope.value("status", "") == "error" && !error_emitted_) {
    Emit({{"type", "error"},
          {"step", step_ == 0 ? Json(nullptr) : Json(step_)},
          {"termination_reason", envelope.value("termination_reason", "")},
          {"exit_code", envelope.value("exit_code", 1)},
          {"http_status", nullptr},
          {"message", envelope.value("error", "")}});
  }
  Json result = envelope;
  result["type"] = "result";
  Emit(std::move(result));
}

}  // namespace dsagent
