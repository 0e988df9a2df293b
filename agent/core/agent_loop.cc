#include "agent/core/agent_loop.h"

#include <algorithm>
#include <chrono>

#include "agent/core/permission_gate.h"
#include "agent/core/run_deadline.h"
#include "common/sha256.h"
#include "tools/permissions/permission_mode.h"

namespace dsagent {
namespace {

// The run's trace could not be written: the run stops, since resume depends on a complete trace.
Termination TraceFailure(const std::string& error) {
  return {TerminationReason::kErrorTrace, "cannot write the session trace: " + error};
}

// When a model response must be on disk. A response that calls tools other than reads must be
// synced before its first call runs: after a crash, resume then knows the call was made and
// settles it (agent_session.h) instead of asking the model again and running a second, perhaps
// different, call on top of the first one's effects. A response whose calls are all reads
// (ClassifyTool: no effect that running them again would repeat) rides on the sync of its first
// tool result, one disk sync fewer per step: a crash before that sync loses the step whole, and
// resume sends the same request again, as for a crash during the model call. A response without
// calls ends the turn and is synced at once.
TraceSync ResponseSync(const std::vector<ToolCall>& calls) {
  const bool all_reads =
      !calls.empty() && std::all_of(calls.begin(), calls.end(), [](const auto& c) {
        return ClassifyTool(c.name) == ToolClass::kRead;
      });
  return all_reads ? TraceSync::kWithNextEvent : TraceSync::kNow;
}

}  // namespace

struct AgentLoop::Turn {
  Turn(const AgentSettings& s, AgentObserver& o, const CancelToken& c, const ModelCatalog& catalog,
       ToolContext tools)
      : settings(s),
        observer(o),
        cancel(c),
        report{Termination{}, "", 0, CostLedger(catalog)},
        deadline(c, std::chrono::seconds(s.limits.timeout_s)),
        tool_ctx(std::move(tools)) {
    tool_ctx.cancel = c;
  }
  // kTimeout or kInterrupted once the run's token fired (nullopt before). The wall-clock limit
  // fires the caller's token too; deadline.fired() tells the two causes apart.
  std::optional<TerminationReason> StopReason() const {
    if (!cancel.IsCancelled()) return std::nullopt;
    return deadline.fired() ? TerminationReason::kTimeout : TerminationReason::kInterrupted;
  }

  const AgentSettings& settings;
  AgentObserver& observer;
  const CancelToken& cancel;
  RunReport report;
  RunDeadline deadline;
  ToolContext tool_ctx;
  FeatureTracker features;
  std::chrono::system_clock::time_point sent_at;  // when the step's request went out (pricing)
};

AgentLoop::AgentLoop(Provider& provider, const ToolRegistry& tools, ToolContext tool_context,
                     TraceWriter& trace, const ModelCatalog& catalog)
    : provider_(provider),
      tools_(tools),
      tool_context_(std::move(tool_context)),
      trace_(trace),
      catalog_(catalog) {}

AgentLoop::Step AgentLoop::AppendEvent(Json event, TraceSync sync) {
  if (auto w = trace_.Append(std::move(event), sync); !w) {
    return MakeUnexpected(TraceFailure(w.error()));
  }
  return Ok{};
}

AgentLoop::Step AgentLoop::Record(Context& context, Message message, Json extra, TraceSync sync) {
  extra["message"] = MessageToJson(message);
  if (!extra.contains("type")) extra["type"] = "message";
  context.Append(std::move(message));
  return AppendEvent(std::move(extra), sync);
}

RunReport AgentLoop::Run(Context& context, const AgentSettings& settings, AgentObserver& observer,
                         const CancelToken& cancel) {
  Turn turn(settings, observer, cancel, catalog_, tool_context_);
  turn.features.StartTurn();
  turn.features.SeedContextTokens(context.EstimatedTokens());
  const auto run = [&]() -> Step {
    while (true) {
      if (auto limit = LimitReached(turn)) return MakeUnexpected(std::move(*limit));
      const int step = ++turn.report.steps;
      if (auto updated = ApplyToolListUpdate(turn, context, step); !updated) return updated;
      auto lane = ChooseLane(turn, step);
      if (!lane) return MakeUnexpected(lane.error());
      turn.observer.OnStepStart(step, *lane);
      if (auto compacted = CompactIfOverBudget(turn, context, step, *lane); !compacted) {
        return compacted;
      }
      auto response = CallModel(turn, context, step, *lane);
      if (!response) return MakeUnexpected(response.error());
      const std::vector<ToolCall> calls = response->message.tool_calls;
      if (auto recorded = RecordResponse(turn, context, step, *lane, std::move(*response));
          !recorded) {
        return recorded;
      }
      if (calls.empty()) return MakeUnexpected(Termination{TerminationReason::kDone, ""});
      for (const ToolCall& call : calls) {
        if (turn.StopReason()) break;  // unanswered calls are settled on resume
        if (auto ran = RunToolCall(turn, context, step, call); !ran) return ran;
      }
    }
  };
  turn.report.termination = run().error();
  return std::move(turn.report);
}

std::optional<Termination> AgentLoop::LimitReached(const Turn& turn) const {
  if (auto why = turn.StopReason()) return Termination{*why, ""};
  if (turn.report.steps >= turn.settings.limits.max_steps)
    return Termination{TerminationReason::kMaxSteps, ""};
  if (turn.report.ledger.total_cost_usd() >= turn.settings.limits.max_cost_usd) {
    return Termination{TerminationReason::kMaxCost, ""};
  }
  return std::nullopt;
}

Expected<Lane, Termination> AgentLoop::ChooseLane(Turn& turn, int step) {
  const AgentSettings& settings = turn.settings;
  if (!settings.router) return settings.lane;
  RouteDecision decision = settings.router->Decide(
      turn.features.Next(turn.report.ledger.total_cost_usd(), settings.limits.max_cost_usd));
  turn.observer.OnRoute(step, decision.lane, decision.record);
  Json event = std::move(decision.record);
  event["type"] = "route";
  event["step"] = step;
  // Synced with the step's request or response: a crash before then re-decides the step anyway.
  if (auto w = AppendEvent(std::move(event), TraceSync::kWithNextEvent); !w) {
    return MakeUnexpected(w.error());
  }
  return decision.lane;
}

AgentLoop::Step AgentLoop::CompactIfOverBudget(Turn& turn, Context& context, int step,
                                               const Lane& lane) {
  const AgentSettings& settings = turn.settings;
  if (!ExceedsContextBudget(context, settings.context_tokens, settings.max_output_tokens)) {
    return Ok{};
  }
  auto compaction = CompactAndRecord(
      context, CompactionTarget(settings.context_tokens, settings.max_output_tokens), "budget",
      {{"step", step}, {"context_tokens", settings.context_tokens}}, trace_);
  if (!compaction) return MakeUnexpected(TraceFailure(compaction.error()));
  if (compaction->empty()) return Ok{};  // nothing left to elide: the request goes as it is
  turn.features.SeedContextTokens(context.EstimatedTokens());
  turn.observer.OnCompaction(step, *compaction,
                             CompactionMissCostUsd(*compaction, catalog_, lane.model));
  return Ok{};
}

AgentLoop::Step AgentLoop::ApplyToolListUpdate(Turn& turn, Context& context, int step) {
  if (!tool_watcher_) return Ok{};
  std::optional<ToolListUpdate> update = tool_watcher_(turn.cancel);
  if (!update) return Ok{};
  context.SetTools(std::move(update->tools));
  turn.observer.OnToolsChanged(step, update->record, update->note);
  Json event = std::move(update->record);
  event["type"] = "tools_changed";
  event["step"] = step;
  event["tools"] = ToolSpecsToJson(context.tools());
  if (auto w = AppendEvent(std::move(event)); !w) return w;
  return Record(context, UserMessage(update->note), {{"tools_changed", true}});
}

Expected<Response, Termination> AgentLoop::CallModel(Turn& turn, const Context& context, int step,
                                                     const Lane& lane) {
  const AgentSettings& settings = turn.settings;
  const Request request = context.BuildRequest(lane, settings.max_output_tokens, settings.user_id);
  if (auto w = AppendEvent({{"type", "request"},
                            {"step", step},
                            {"model", lane.model},
                            {"thinking", lane.thinking},
                            {"effort", lane.effort},
                            {"messages", request.messages.size()},
                            {"prefix_sha256", context.PrefixHash()}},
                           // Synced with the response (or the error) that follows it: a crash
                           // during the call leaves a step that resume runs again.
                           TraceSync::kWithNextEvent);
      !w) {
    return MakeUnexpected(w.error());
  }
  turn.sent_at = std::chrono::system_clock::now();
  auto response = provider_.Complete(request, turn.observer, turn.cancel);
  if (response) return std::move(*response);
  Termination t = FromProviderError(response.error());
  if (t.reason == TerminationReason::kInterrupted) {
    t.reason = turn.StopReason().value_or(TerminationReason::kInterrupted);
  }
  turn.observer.OnModelError(step, response.error(), t);
  trace_.Append({{"type", "error"},
                 {"step", step},
                 {"kind", t.Name()},
                 {"http_status", response.error().http_status},
                 {"message", response.error().message}});
  return MakeUnexpected(std::move(t));
}

AgentLoop::Step AgentLoop::RecordResponse(Turn& turn, Context& context, int step, const Lane& lane,
                                          Response response) {
  const double cost = turn.report.ledger.Record(lane.model, response.usage, turn.sent_at);
  turn.features.ObserveResponse(lane.model, response.usage);
  turn.observer.OnResponse(step, response, cost);
  turn.report.result = response.message.content;
  Json event = {{"type", "response"},
                {"step", step},
                {"model", lane.model},
                {"served_model", response.served_model},
                {"finish_reason", response.finish_reason},
                {"usage", UsageToJson(response.usage)},
                {"usage_reported", response.usage_reported},
                {"cache_hit_rate", CacheHitRate(response.usage)},
                {"cost_usd", cost},
                {"attempts", response.attempts},
                {"latency_s", response.latency_s},
                {"request_id", response.request_id}};
  const TraceSync sync = ResponseSync(response.message.tool_calls);
  return Record(context, std::move(response.message), std::move(event), sync);
}

AgentLoop::Step AgentLoop::RunToolCall(Turn& turn, Context& context, int step,
                                       const ToolCall& call) {
  turn.observer.OnToolStart(call);
  GateResult gate;
  gate.call = call;
  if (turn.settings.permissions) {
    gate = GateToolCall(call, *turn.settings.permissions, turn.settings.approver);
    for (Json& e : gate.events) {
      e["type"] = "permission";
      e["step"] = step;
      if (auto w = AppendEvent(std::move(e)); !w) return w;
    }
    // Interrupted while the user was asked: the call stays unanswered and is settled on resume.
    if (turn.StopReason()) return Ok{};
  }
  const auto started = std::chrono::steady_clock::now();
  ToolResult result;
  if (gate.run) {
    result = tools_.Dispatch(gate.call.name, gate.call.arguments, turn.tool_ctx);
    result.output = gate.note + result.output;
  } else {
    result = {false, gate.refusal, {{"permission", "refused"}}};
  }
  // Once, before the result is shown, recorded or sent: the trace and every later request carry
  // the same bytes.
  if (turn.tool_ctx.redactor) result.output = turn.tool_ctx.redactor->Redact(result.output);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  turn.observer.OnToolResult(call, result);
  turn.features.ObserveTool(call, result);
  Json tool_event = {{"type", "tool"},         {"step", step},      {"name", call.name},
                     {"ok", result.ok},        {"duration_ms", ms}, {"details", result.details},
                     {"tool_call_id", call.id}};
  return Record(context, ToolResultMessage(call.id, std::move(result.output)),
                std::move(tool_event));
}

}  // namespace dsagent
