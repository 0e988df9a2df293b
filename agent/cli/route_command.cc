#include "agent/cli/route_command.h"

#include <cstdio>
#include <memory>

#include "agent/cli/eval_command.h"
#include "agent/core/termination.h"
#include "common/file_io.h"
#include "evals/compare.h"
#include "evals/runner.h"
#include "evals/task.h"

namespace dsagent {
namespace fs = std::filesystem;

void AddRouteCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<RouteCompareOptions>();
  RouteCompareOptions& o = *options;
  auto* route = app.add_subcommand("route", "Routing-policy experiments");
  route->require_subcommand(1);
  auto* cmd = route->add_subcommand(
      "compare", "Compare routing policies on the same tasks (table + Pareto plot)");
  cmd->add_option("--tasks", o.tasks, "Tasks, as for dsagent eval");
  cmd->add_option("--format", o.format, "swebench | suite | polyglot")
      ->check(CLI::IsMember({"swebench", "suite", "polyglot"}));
  cmd->add_option("--repos", o.repos, "Clones / bundles directory, as for dsagent eval");
  cmd->add_option("--policies", o.policies, "Policies to run, comma-separated")->delimiter(',');
  cmd->add_option("--repeats", o.repeats, "Runs per policy (for stochastic policies)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--jobs", o.jobs, "Tasks run in parallel")->check(CLI::PositiveNumber);
  cmd->add_option("--max-cost-per-task", o.max_cost_per_task, "Agent budget per task, USD")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout-per-task", o.timeout_per_task_s, "Agent wall time per task, s")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-sandbox", o.no_sandbox,
                "Run the agent's shell commands without the sandbox (not recommended)");
  cmd->add_option("--from-runs", o.from_runs, "Analyse these eval run directories instead");
  cmd->add_option("--out", o.out, "Output directory")->required();
  table.BindCancellable(
      cmd, [options](const CancelToken& cancel) { return RouteCompareCommand(*options, cancel); });
}

int RouteCompareCommand(const RouteCompareOptions& o, const CancelToken& cancel) {
  std::vector<fs::path> runs(o.from_runs.begin(), o.from_runs.end());
  if (runs.empty()) {
    if (o.tasks.empty() || o.policies.empty()) {
      std::fprintf(stderr, "dsagent route compare: give --tasks and --policies, or --from-runs\n");
      return kExitUsage;
    }
    auto tasks = evals::LoadTasks({.tasks = o.tasks, .format = o.format, .repos_dir = o.repos});
    if (!tasks) {
      std::fprintf(stderr, "dsagent route compare: %s\n", tasks.error().c_str());
      return kExitUsage;
    }
    for (const std::string& policy : o.policies) {
      for (int k = 1; k <= o.repeats; ++k) {
        evals::EvalOptions e;
        e.policy = policy;
        e.jobs = o.jobs;
        e.max_cost_per_task_usd = o.max_cost_per_task;
        e.timeout_per_task_s = o.timeout_per_task_s;
        e.resume = true;  // rerunning the command continues where it stopped
        if (int refused = PrepareEvalRun(o.no_sandbox, e, "dsagent route compare"); refused != 0) {
          return refused;
        }
        e.out_dir = fs::path(o.out) / "runs" /
                    (fs::path(policy).stem().string() +
                     (o.repeats > 1 ? "-r" + std::to_string(k) : std::string()));
        std::fprintf(stderr, "route compare: policy %s, run %d/%d -> %s\n", policy.c_str(), k,
                     o.repeats, e.out_dir.c_str());
        auto summary = evals::RunEval(
            *tasks, e, [](const std::string& l) { std::fprintf(stderr, "  %s\n", l.c_str()); },
            cancel);
        if (!summary) {
          std::fprintf(stderr, "dsagent route compare: %s\n", summary.error().message.c_str());
          return summary.error().agent_unusable ? kExitConfigAuth : kExitError;
        }
        if (cancel.IsCancelled()) return kExitInterrupted;
        runs.push_back(e.out_dir);
      }
    }
  }
  auto comparison = evals::CompareRuns(runs);
  if (!comparison) {
    std::fprintf(stderr, "dsagent route compare: %s\n", comparison.error().c_str());
    return kExitUsage;
  }
  const std::string md = evals::CompareMarkdown(*comparison);
  for (const auto& [name, data] :
       {std::pair<const char*, std::string>{"report.md", md},
        {"compare.json", evals::CompareToJson(*comparison).dump(2) + "\n"},
        {"pareto.svg", evals::CompareSvg(*comparison)}}) {
    if (auto w = WriteFileAtomic(fs::path(o.out) / name, data); !w) {
      std::fprintf(stderr, "dsagent route compare: %s\n", w.error().c_str());
      return kExitError;
    }
  }
  std::fputs(md.c_str(), stdout);
  return kExitDone;
}

}  // namespace dsagent
