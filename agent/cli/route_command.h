// `dsagent route compare`: run several routing policies on the same tasks (or read runs already
// made) and compare them: resolved rate with bootstrap CIs, cost, Pro share, cache hit, PGR/APGR/
// CPT, Pareto frontier; writes report.md, compare.json and pareto.svg (see evals/compare.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "agent/cli/command_table.h"
#include "common/cancel.h"

namespace dsagent {

struct RouteCompareOptions {
  std::string tasks, format, repos, out;
  std::vector<std::string> policies, from_runs;
  int repeats = 1, jobs = 1, timeout_per_task_s = 0;
  double max_cost_per_task = 0;
  bool no_sandbox = false;  // as `eval --no-sandbox`
};

// Declares `route` and its `compare` subcommand on `app` and binds RouteCompareCommand to it.
void AddRouteCommand(CLI::App& app, CommandTable& table);
// Returns 0 on success, 2 for bad input, 3 when the agent cannot run, 1 on write errors, 130
// when interrupted.
int RouteCompareCommand(const RouteCompareOptions& options, const CancelToken& cancel);

}  // namespace dsagent
