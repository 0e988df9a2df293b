#include "agent/core/headless_run.h"

#include "agent/core/agent_session.h"

namespace dsagent {

HeadlessRunResult HeadlessRun(const HeadlessRunOptions& options, AgentObserver& observer,
                              const CancelToken& cancel) {
  HeadlessRunResult out;
  const auto fail = [&out](Termination t, const std::string& session_id = "") {
    out.envelope.termination = std::move(t);
    out.envelope.session_id = session_id;
    return out;
  };
  const std::string& task = options.task;
  if (task.empty() && options.resume.empty()) {
    return fail(
        {TerminationReason::kErrorUsage, "a TASK is required (use - to read it from stdin)"});
  }

  auto opened = AgentSession::Open({.repo = options.repo,
                                    .resume = options.resume,
                                    .trace_file = options.trace_file,
                                    .flags = options.flags,
                                    .local_engines = options.local_engines,
                                    .local_load = options.local_load},
                                   cancel);
  if (!opened) {
    SessionOpenError& e = opened.error();
    out.workspace = e.workspace;
    out.warnings = e.warnings;
    return fail(e.termination, e.session_id);
  }
  AgentSession& session = **opened;
  out.workspace = session.workspace();
  out.warnings = session.warnings();

  if (!task.empty()) {
    if (auto added = session.AddUserMessage(task); !added) return fail(added.error(), session.id());
  } else if (!session.CanContinue()) {
    return fail(
        {TerminationReason::kErrorUsage,
         "session " + session.id() + " has nothing left to continue; give new instructions"},
        session.id());
  }

  out.trace_path = session.trace_path();
  const AgentSettings& settings = session.settings();
  observer.OnSessionStart({.session_id = session.id(),
                           .provider = session.provider_name(),
                           .resumed = session.resumed(),
                           .lane = settings.lane,
                           .routing_policy = settings.router ? settings.router->name() : "",
                           .limits = settings.limits,
                           .workspace = session.workspace().string(),
                           .trace_path = session.trace_path().string()});
  const RunReport report = session.RunTurn(observer, cancel);
  out.envelope = EnvelopeFromReport(report, session.id());
  session.RecordEnd(out.envelope);  // best effort: the caller still gets the outcome
  return out;
}

}  // namespace dsagent
