// HeadlessRun: one complete agent run without a terminal — load config, build the provider, start
// or resume the session, run the loop, write the trace's end event — returning the run envelope.
// `dsagent run` prints it; `dsagent patch` and evals call it directly. Never throws.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/agent_loop.h"
#include "agent/core/run_envelope.h"
#include "agent/providers/local_engines.h"
#include "common/cancel.h"

namespace dsagent {

struct HeadlessRunOptions {
  std::string task;                  // the user's instructions; may be empty only with `resume`
  std::filesystem::path repo;        // workspace; empty: current dir (or the resumed session's)
  std::string resume;                // session id to continue
  std::filesystem::path trace_file;  // explicit trace path instead of the sessions directory
  // Command-line config overrides as (dotted key, value): provider, model, thinking, ...
  std::vector<std::pair<std::string, std::string>> flags;
  // With provider local (SessionOpenOptions): a kept engine shared across runs, and load notices.
  LocalEngines* local_engines = nullptr;
  LocalLoadNotices local_load;
};

struct HeadlessRunResult {
  RunEnvelope envelope;               // termination (with message on failure), usage, cost, ...
  std::filesystem::path trace_path;   // empty when the run failed before a trace existed
  std::filesystem::path workspace;    // canonical workspace, when it was resolved
  std::vector<std::string> warnings;  // config warnings worth showing a person
};

// Runs to completion. Failures before the loop (usage, config, missing key, unreadable session)
// come back as an envelope whose termination says why; nothing is printed here except what
// `observer` prints.
HeadlessRunResult HeadlessRun(const HeadlessRunOptions& options, AgentObserver& observer,
                              const CancelToken& cancel);

}  // namespace dsagent
