// AgentLoop: the agent. Call the model with the context, run the tool calls it asks for (each
// after the permission check, see permission_gate.h), append everything to the log and the trace,
// repeat until the model answers without tool calls or a limit stops it. Every tool result passes
// through the tool context's redactor (tools/redactor.h) before it is shown, recorded or sent.
// Every run ends with exactly one Termination.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/approval.h"
#include "agent/core/compaction.h"
#include "agent/core/context.h"
#include "agent/core/cost_ledger.h"
#include "agent/core/termination.h"
#include "agent/core/trace.h"
#include "agent/providers/provider.h"
#include "agent/router/router.h"
#include "tools/permissions/permission_policy.h"
#include "tools/registry.h"

namespace dsagent {

struct AgentLimits {
  int max_steps = 100;        // model calls in this run
  double max_cost_usd = 5.0;  // spend in this run; checked after each call
  int timeout_s = 3600;       // wall time of this run; interrupts an in-flight call or tool
};

// How the loop runs its turns. Synchronisation: every field is read by Run() on the thread that
// calls it and may be changed only between Run() calls, from that thread (slash commands do so
// between turns). The one exception is the PermissionPolicy `permissions` points to: it has its
// own mutex, so its mode and "always" grants may change at any time, even during a step.
struct AgentSettings {
  Lane lane;  // used for every call unless a router is set
  // Chooses the lane per call when set (a routing policy); its decisions go into the trace.
  std::shared_ptr<Router> router;
  AgentLimits limits;
  int64_t max_output_tokens = 32768;
  // The context window a request (prompt + max_output_tokens) must fit; 0: no limit. When the
  // next request would not fit, the loop compacts the context once (compaction.h).
  int64_t context_tokens = 0;
  std::string user_id;  // stable per repository (cache isolation on DeepSeek)
  // Checked before every tool call (tools/permissions); null: every call runs. Shared with the
  // front end, which may change the policy's mode or add "always" grants between (or during)
  // steps through the policy's own synchronised methods; the pointer is replaced only between
  // Run() calls.
  std::shared_ptr<PermissionPolicy> permissions;
  // Answers calls the policy says to ask about; null (headless): such calls are refused, and the
  // model is told why. Not owned; must outlive Run().
  ApprovalHandler* approver = nullptr;
};

// What a front end learns when a session starts: its id and the settings its turns use.
struct SessionStartInfo {
  std::string session_id;
  std::string provider;        // "deepseek", "deepseek-anthropic", ...
  bool resumed = false;        // continues an earlier session's trace
  Lane lane;                   // the pinned lane, or the one a router starts from
  std::string routing_policy;  // the router's policy name; empty when the lane is pinned
  AgentLimits limits;
  std::string workspace;   // canonical workspace directory
  std::string trace_path;  // where the session's trace is written
};

// Progress callbacks, one per thing that happens (the CLI prints them to stderr, or as JSON events
// with --output-format stream-json). Called on the loop's thread; all default to doing nothing.
class AgentObserver : public StreamSink {
 public:
  virtual void OnSessionStart(const SessionStartInfo& /*info*/) {}
  // A routing decision for `step` (only when a router is set); `record` is the trace's "route"
  // event body (policy, features, lane, alternatives, reason).
  virtual void OnRoute(int /*step*/, const Lane& /*lane*/, const Json& /*record*/) {}
  virtual void OnStepStart(int /*step*/, const Lane& /*lane*/) {}
  virtual void OnResponse(int /*step*/, const Response& /*response*/, double /*cost_usd*/) {}
  // The model call of `step` failed for good (after the provider's retries); `termination` is how
  // the run ends because of it.
  virtual void OnModelError(int /*step*/, const ProviderError& /*error*/,
                            const Termination& /*termination*/) {}
  virtual void OnToolStart(const ToolCall& /*call*/) {}
  // `result.output` is already redacted: the same bytes the trace records and the model gets.
  virtual void OnToolResult(const ToolCall& /*call*/, const ToolResult& /*result*/) {}
  // The context was compacted before `step` (0: on request, between turns); the next request
  // re-sends `compaction.uncached_tokens` uncached once, costing about `miss_cost_usd` extra.
  virtual void OnCompaction(int /*step*/, const Compaction& /*compaction*/,
                            double /*miss_cost_usd*/) {}
  // The tools offered changed before `step` (an MCP server's list changed): `changes` holds the
  // tool names under "added", "changed" and "removed"; `note` is what the model was told.
  virtual void OnToolsChanged(int /*step*/, const Json& /*changes*/, const std::string& /*note*/) {}
};

// A change of the tools offered, found at a step boundary (agent/core/mcp_setup.h).
struct ToolListUpdate {
  std::vector<ToolSpec> tools;  // the whole new list, in the order to send
  Json record;                  // trace fields naming what changed (added/changed/removed)
  std::string note;             // told to the model as a user message, and to the observer
};
// Asked before every model call; nullopt when nothing changed.
using ToolListWatcher = std::function<std::optional<ToolListUpdate>(const CancelToken&)>;

struct RunReport {
  Termination termination;
  std::string result;  // the final assistant text (the last one seen when stopped early)
  int steps = 0;       // model calls made in this run
  CostLedger ledger;
};

class AgentLoop {
 public:
  // All references must outlive the loop. `tool_context.cancel` is replaced by the run's token.
  AgentLoop(Provider& provider, const ToolRegistry& tools, ToolContext tool_context,
            TraceWriter& trace, const ModelCatalog& catalog);

  // Runs until done or a limit. `cancel` (e.g. Ctrl-C) ends the run as "interrupted"; the wall-
  // clock limit cancels the same token (so it stays cancelled afterwards) and ends it as "timeout".
  RunReport Run(Context& context, const AgentSettings& settings, AgentObserver& observer,
                const CancelToken& cancel);

  // Asked at each step boundary whether the tools changed; on a change the loop sends the new
  // list from that step on, records a "tools_changed" trace event and tells the model the note.
  void set_tool_watcher(ToolListWatcher watcher) { tool_watcher_ = std::move(watcher); }

 private:
  struct Turn;  // one Run's state (agent_loop.cc)
  // Ok: the run goes on. A Termination ("done" included) ends the run with it.
  using Step = Expected<Ok, Termination>;

  std::optional<Termination> LimitReached(const Turn& turn) const;
  Expected<Lane, Termination> ChooseLane(Turn& turn, int step);
  Step CompactIfOverBudget(Turn& turn, Context& context, int step, const Lane& lane);
  Step ApplyToolListUpdate(Turn& turn, Context& context, int step);
  Expected<Response, Termination> CallModel(Turn& turn, const Context& context, int step,
                                            const Lane& lane);
  Step RecordResponse(Turn& turn, Context& context, int step, const Lane& lane, Response response);
  Step RunToolCall(Turn& turn, Context& context, int step, const ToolCall& call);
  // Appends `message` to the context and a trace event carrying it (+ `extra` fields), synced as
  // `sync` says.
  Step Record(Context& context, Message message, Json extra, TraceSync sync = TraceSync::kNow);
  Step AppendEvent(Json event, TraceSync sync = TraceSync::kNow);

  Provider& provider_;
  const ToolRegistry& tools_;
  ToolContext tool_context_;
  TraceWriter& trace_;
  const ModelCatalog& catalog_;
  ToolListWatcher tool_watcher_;
};

}  // namespace dsagent
