#include "agent/core/agent_loop.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "agent/core/permission_gate.h"
#include "common/sha256.h"

namespace dsagent {
namespace {

// Fires `token` when the deadline passes, unless stopped first. Owns its thread.
class Deadline {
 public:
  Deadline(CancelToken token, std::chrono::seconds after) {
    thread_ = std::thread([this, token, after] {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, after, [this] { return stopped_; })) {
        fired_ = true;
        token.Cancel();
      }
    });
  }
  ~Deadline() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool fired() {
    std::lock_guard lock(mu_);
    return fired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  bool fired_ = false;
  std::thread thread_;
};

}  // namespace

AgentLoop::AgentLoop(Provider& provider, const ToolRegistry& tools, ToolContext tool_context,
                     TraceWriter& trace, const ModelCatalog& catalog)
    : provider_(provider),
      tools_(tools),
      tool_context_(std::move(tool_context)),
      trace_(trace),
      catalog_(catalog) {}

bool AgentLoop::Record(Context& context, Message message, Json extra, Termination* failure) {
  extra["message"] = MessageToJson(message);
  if (!extra.contains("type")) extra["type"] = "message";
  context.Append(std::move(message));
  auto written = trace_.Append(std::move(extra));
  if (!written) {
    *failure = {"error:trace", "cannot write the session trace: " + written.error()};
    return false;
  }
  return true;
}

RunReport AgentLoop::Run(Context& context, const AgentSettings& settings, AgentObserver& observer,
                         const CancelToken& cancel) {
  RunReport report{Termination{}, "", 0, CostLedger(catalog_)};
  // The wall-clock limit fires the caller's token too; deadline.fired() tells the two causes apart.
  Deadline deadline(cancel, std::chrono::seconds(settings.limits.timeout_s));
  ToolContext tool_ctx = tool_context_;
  tool_ctx.cancel = cancel;

  const auto stop_reason = [&]() -> std::string {
    if (!cancel.IsCancelled()) return "";
    return deadline.fired() ? "timeout" : "interrupted";
  };

  FeatureTracker features;
  features.StartTurn();
  {
    const Request whole = context.BuildRequest(settings.lane, 0, "");
    Json items = ToolSpecsToJson(whole.tools);
    for (const auto& m : whole.messages) items.push_back(MessageToJson(m));
    features.SeedContextTokens(static_cast<int64_t>((CanonicalJson(items).size() + 3) / 4));
  }

  while (true) {
    if (auto why = stop_reason(); !why.empty()) {
      report.termination = {why, ""};
      break;
    }
    if (report.steps >= settings.limits.max_steps) {
      report.termination = {"max_steps", ""};
      break;
    }
    if (report.ledger.total_cost_usd() >= settings.limits.max_cost_usd) {
      report.termination = {"max_cost", ""};
      break;
    }

    const int step = ++report.steps;
    Lane lane = settings.lane;
    if (settings.router) {
      RouteDecision decision = settings.router->Decide(
          features.Next(report.ledger.total_cost_usd(), settings.limits.max_cost_usd));
      lane = decision.lane;
      observer.OnRoute(step, lane, decision.record);
      Json event = std::move(decision.record);
      event["type"] = "route";
      event["step"] = step;
      if (auto w = trace_.Append(std::move(event)); !w) {
        report.termination = {"error:trace", "cannot write the session trace: " + w.error()};
        break;
      }
    }
    observer.OnStepStart(step, lane);
    Request request = context.BuildRequest(lane, settings.max_output_tokens, settings.user_id);
    auto logged = trace_.Append({{"type", "request"},
                                 {"step", step},
                                 {"model", lane.model},
                                 {"thinking", lane.thinking},
                                 {"effort", lane.effort},
                                 {"messages", request.messages.size()},
                                 {"prefix_sha256", context.PrefixHash()}});
    if (!logged) {
      report.termination = {"error:trace", "cannot write the session trace: " + logged.error()};
      break;
    }

    const auto sent_at = std::chrono::system_clock::now();
    auto response = provider_.Complete(request, observer, cancel);
    if (!response) {
      Termination t = FromProviderError(response.error());
      if (t.reason == "interrupted")
        t.reason = stop_reason().empty() ? "interrupted" : stop_reason();
      observer.OnModelError(step, response.error(), t);
      trace_.Append({{"type", "error"},
                     {"step", step},
                     {"kind", t.reason},
                     {"http_status", response.error().http_status},
                     {"message", response.error().message}});
      report.termination = t;
      break;
    }

    const double cost = report.ledger.Record(lane.model, response->usage, sent_at);
    features.ObserveResponse(lane.model, response->usage);
    observer.OnResponse(step, *response, cost);
    report.result = response->message.content;
    Json event = {{"type", "response"},
                  {"step", step},
                  {"model", lane.model},
                  {"served_model", response->served_model},
                  {"finish_reason", response->finish_reason},
                  {"usage", UsageToJson(response->usage)},
                  {"usage_reported", response->usage_reported},
                  {"cache_hit_rate", CacheHitRate(response->usage)},
                  {"cost_usd", cost},
                  {"attempts", response->attempts},
                  {"latency_s", response->latency_s},
                  {"request_id", response->request_id}};
    const std::vector<ToolCall> calls = response->message.tool_calls;
    if (!Record(context, std::move(response->message), std::move(event), &report.termination)) {
      break;
    }
    if (calls.empty()) {
      report.termination = {"done", ""};
      break;
    }

    bool failed = false;
    for (const ToolCall& call : calls) {
      if (!stop_reason().empty()) break;  // unanswered calls are settled on resume
      observer.OnToolStart(call);
      GateResult gate;
      gate.call = call;
      if (settings.permissions) {
        gate = GateToolCall(call, *settings.permissions, settings.approver);
        for (Json& e : gate.events) {
          e["type"] = "permission";
          e["step"] = step;
          if (auto w = trace_.Append(std::move(e)); !w) {
            report.termination = {"error:trace", "cannot write the session trace: " + w.error()};
            failed = true;
            break;
          }
        }
        if (failed) break;
        if (!stop_reason().empty()) break;  // interrupted while the user was asked
      }
      const auto started = std::chrono::steady_clock::now();
      ToolResult result;
      if (gate.run) {
        result = tools_.Dispatch(gate.call.name, gate.call.arguments, tool_ctx);
        result.output = gate.note + result.output;
      } else {
        result = {false, gate.refusal, {{"permission", "refused"}}};
      }
      // Once, before the result is shown, recorded or sent: the trace and every later request
      // carry the same bytes.
      if (tool_ctx.redactor) result.output = tool_ctx.redactor->Redact(result.output);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      observer.OnToolResult(call, result);
      features.ObserveTool(call, result);
      Json tool_event = {{"type", "tool"},         {"step", step},      {"name", call.name},
                         {"ok", result.ok},        {"duration_ms", ms}, {"details", result.details},
                         {"tool_call_id", call.id}};
      if (!Record(context, ToolResultMessage(call.id, result.output), std::move(tool_event),
                  &report.termination)) {
        failed = true;
        break;
      }
    }
    if (failed) break;
  }
  return report;
}

}  // namespace dsagent
