#include "agent/cli/chat_session.h"

#include "agent/core/trace.h"

namespace dsagent {
namespace {

// Forwards everything to the view, and feeds the usage meter and the edit journal on the way.
class TurnObserver : public AgentObserver {
 public:
  TurnObserver(AgentObserver& view, UsageMeter& usage, EditJournal& journal,
               std::optional<Lane>& lane)
      : view_(view), usage_(usage), journal_(journal), lane_(lane) {}

  void OnSessionStart(const SessionStartInfo& info) override { view_.OnSessionStart(info); }
  void OnRoute(int step, const Lane& lane, const Json& record) override {
    view_.OnRoute(step, lane, record);
  }
  void OnStepStart(int step, const Lane& lane) override {
    lane_ = lane;
    view_.OnStepStart(step, lane);
  }
  void OnResponse(int step, const Response& response, double cost_usd) override {
    usage_.RecordCall(lane_ ? lane_->model : "", response.usage, cost_usd);
    view_.OnResponse(step, response, cost_usd);
  }
  void OnModelError(int step, const ProviderError& error, const Termination& t) override {
    view_.OnModelError(step, error, t);
  }
  void OnToolStart(const ToolCall& call) override {
    journal_.BeforeTool(call);
    view_.OnToolStart(call);
  }
  void OnToolResult(const ToolCall& call, const ToolResult& result) override {
    view_.OnToolResult(call, result);
  }
  void OnCompaction(int step, const Compaction& compaction, double miss_cost_usd) override {
    view_.OnCompaction(step, compaction, miss_cost_usd);
  }
  void OnToolsChanged(int step, const Json& changes, const std::string& note) override {
    view_.OnToolsChanged(step, changes, note);
  }
  void OnReasoningDelta(std::string_view text) override { view_.OnReasoningDelta(text); }
  void OnContentDelta(std::string_view text) override { view_.OnContentDelta(text); }
  void OnToolCallStart(std::string_view id, std::string_view name) override {
    view_.OnToolCallStart(id, name);
  }
  void OnRetry(int attempt, const std::string& why, std::chrono::milliseconds delay) override {
    view_.OnRetry(attempt, why, delay);
  }

 private:
  AgentObserver& view_;
  UsageMeter& usage_;
  EditJournal& journal_;
  std::optional<Lane>& lane_;
};

}  // namespace

Expected<std::unique_ptr<ChatSession>, SessionOpenError> ChatSession::Open(
    const SessionOpenOptions& options, const CancelToken& cancel) {
  SessionOpenOptions interactive = options;
  interactive.permission_front = PermissionFront::kInteractive;  // permissions.mode, not headless
  auto agent = AgentSession::Open(interactive, cancel);
  if (!agent) return MakeUnexpected(std::move(agent.error()));
  std::unique_ptr<ChatSession> s(new ChatSession(std::move(*agent)));
  if (s->agent_->resumed()) {
    // Streamed: a long session's trace is never held whole in memory.
    ForEachTraceEvent(s->agent_->trace_path(), [&](Json&& e) { s->usage_.SeedFromEvent(e); });
  }
  auto snap = WorktreeSnapshot::Take(s->agent_->workspace());
  if (snap) {
    s->snapshot_.emplace(std::move(*snap));
  } else {
    s->snapshot_error_ = snap.error();
  }
  return s;
}

Lane ChatSession::ProLane() const {
  const AgentSettings& st = agent_->settings();
  if (st.router) return st.router->pro_lane();
  return {"deepseek-v4-pro", true, "max"};
}

Lane ChatSession::CurrentLane() const {
  if (last_lane_) return *last_lane_;
  const AgentSettings& st = agent_->settings();
  if (pro_armed_) return ProLane();
  return st.router ? st.router->flash_lane() : st.lane;
}

RunEnvelope ChatSession::RunTurn(const std::string& text, AgentObserver& view,
                                 const CancelToken& cancel) {
  ++turns_;
  usage_.BeginTurn();
  journal_.BeginTurn();
  std::string message;
  for (const std::string& note : notes_) message += note + "\n\n";
  message += text;
  if (auto added = agent_->AddUserMessage(std::move(message)); !added) {
    RunEnvelope env;
    env.termination = added.error();
    env.session_id = agent_->id();
    return env;
  }
  notes_.clear();

  AgentSettings& settings = agent_->settings();
  const AgentSettings saved = settings;
  if (pro_armed_) {
    settings.lane = ProLane();
    settings.router.reset();
    pro_armed_ = false;
  }
  TurnObserver observer(view, usage_, journal_, last_lane_);
  const RunReport report = agent_->RunTurn(observer, cancel);
  settings.lane = saved.lane;
  settings.router = saved.router;
  journal_.EndTurn();

  RunEnvelope env = EnvelopeFromReport(report, agent_->id());
  agent_->RecordEnd(env);  // best effort, as in headless runs
  return env;
}

}  // namespace dsagent
