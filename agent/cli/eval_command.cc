#include "agent/cli/eval_command.h"

#include <cstdio>
#include <ctime>
#include <memory>

#include "agent/core/termination.h"
#include "evals/runner.h"
#include "evals/task.h"

namespace dsagent {

void AddEvalCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<EvalCommandOptions>();
  EvalCommandOptions& o = *options;
  auto* cmd = app.add_subcommand(
      "eval", "Run an agent over SWE-bench-style tasks and grade the patches (docs/evals.md)");
  cmd->add_option("--tasks", o.tasks, "SWE-bench JSONL file, or a suite directory")->required();
  cmd->add_option("--format", o.format,
                  "swebench | suite | polyglot (default: file -> swebench, dir -> suite)")
      ->check(CLI::IsMember({"swebench", "suite", "polyglot"}));
  cmd->add_option("--repos", o.repos,
                  "Directory of clones or git bundles named owner__name[.git|.bundle]");
  cmd->add_option("--agent", o.agent, "dsagent | oracle (gold patch) | noop")
      ->check(CLI::IsMember({"dsagent", "oracle", "noop"}));
  AddLaneOptions(*cmd, o.lane);
  cmd->add_option("--jobs", o.jobs, "Tasks run in parallel")->check(CLI::PositiveNumber);
  cmd->add_option("--out", o.out, "Run directory (default: evals-runs/<agent>-<time>)");
  cmd->add_option("--max-cost-per-task", o.max_cost_per_task, "Agent budget per task, USD")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout-per-task", o.timeout_per_task_s, "Agent wall time per task, seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--resume", o.resume, "Skip tasks that already have results in --out");
  cmd->add_flag("--keep-workspaces", o.keep_workspaces, "Keep each task's clones under work/");
  table.BindCancellable(
      cmd, [options](const CancelToken& cancel) { return EvalCommand(*options, cancel); });
}

int EvalCommand(const EvalCommandOptions& o, const CancelToken& cancel) {
  auto tasks = evals::LoadTasks({.tasks = o.tasks, .format = o.format, .repos_dir = o.repos});
  if (!tasks) {
    std::fprintf(stderr, "dsagent eval: %s\n", tasks.error().c_str());
    return kExitUsage;
  }
  evals::EvalOptions e;
  e.agent = o.agent;
  e.policy = o.lane.policy;
  e.jobs = o.jobs;
  e.out_dir = o.out;
  if (e.out_dir.empty()) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    e.out_dir = std::filesystem::path("evals-runs") / (o.agent + "-" + stamp);
  }
  e.max_cost_per_task_usd = o.max_cost_per_task;
  e.timeout_per_task_s = o.timeout_per_task_s;
  e.resume = o.resume;
  e.keep_workspaces = o.keep_workspaces;
  AppendLaneOverrides(o.lane, e.flags, /*with_policy=*/false);  // the runner adds e.policy
  std::fprintf(stderr, "dsagent eval: %zu task(s), agent %s, %d job(s) -> %s\n", tasks->size(),
               o.agent.c_str(), e.jobs, e.out_dir.c_str());
  auto summary = evals::RunEval(
      *tasks, e, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); },
      cancel);
  if (!summary) {
    std::fprintf(stderr, "dsagent eval: %s\n", summary.error().message.c_str());
    return summary.error().agent_unusable ? kExitConfigAuth : kExitError;
  }
  const Json& s = *summary;
  std::printf("resolved %d/%d (%.1f%%), errors %d, cost $%.6f, cache hit %.1f%%; report: %s\n",
              s["resolved_instances"].get<int>(), s["total_instances"].get<int>(),
              100 * s["resolved_rate"].get<double>(), s["error_instances"].get<int>(),
              s["total_cost_usd"].get<double>(), 100 * s["cache_hit_rate"].get<double>(),
              (e.out_dir / "report.md").c_str());
  return cancel.IsCancelled() ? kExitInterrupted : kExitDone;
}

}  // namespace dsagent
