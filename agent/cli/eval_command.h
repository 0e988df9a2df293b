// `dsagent eval`: run an agent (dsagent, oracle, noop) over SWE-bench-style tasks and grade the
// patches the SWE-bench way (see evals/ and docs/evals.md).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "agent/cli/command_table.h"
#include "agent/cli/lane_options.h"
#include "common/cancel.h"
#include "evals/runner.h"

namespace dsagent {

struct EvalCommandOptions {
  std::string tasks, format, repos, agent = "dsagent", out;
  LaneFlags lane;  // for the dsagent agent: --provider, --model (turns routing off), --policy, ...
  int jobs = 1, timeout_per_task_s = 0;
  double max_cost_per_task = 0;
  bool resume = false, keep_workspaces = false;
  bool no_sandbox = false;  // --no-sandbox: the agent's shell commands run unconfined
  std::string shard;           // "K/N" (--shard)
  std::string test_ids_cache;  // --test-ids-cache
  // `dsagent eval merge OUT DIR...`
  bool merge = false;
  std::string merge_out;
  std::vector<std::string> merge_dirs;
};

// What `eval` and `route compare` set up before RunEval, into `e` (whose agent and flags are set):
// for the dsagent agent, the sandbox of `run` (HeadlessSandboxFlags, unless `no_sandbox`); for every
// agent, the test commands' environment from tools.env (the configuration of the current
// directory, e.flags on top), as the agent's tool subprocesses get it. Returns 0, or the exit code
// after printing why (`command` prefixes the message): 3 when no sandbox backend works or
// tools.env is invalid.
int PrepareEvalRun(bool no_sandbox, evals::EvalOptions& e, const char* command);

// Declares the subcommand and its flags on `app` and binds EvalCommand to it.
void AddEvalCommand(CLI::App& app, CommandTable& table);
// Runs it (or `eval merge`: shard runs into one run directory; 0, or 2 when refused): progress on
// stderr, the summary's headline on stdout. Returns 0 when the run finished
// (whatever the verdicts), 2 for bad input (tasks that do not load), 3 when the agent cannot run
// at all (missing key, bad config, no balance), 1 when outputs could not be written, 130 when
// interrupted.
int EvalCommand(const EvalCommandOptions& options, const CancelToken& cancel);

}  // namespace dsagent
