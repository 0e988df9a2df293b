#include "agent/cli/eval_command.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <utility>

#include "agent/cli/eval_status_line.h"
#include "agent/cli/headless_sandbox_flags.h"
#include "agent/config/config.h"
#include "agent/core/termination.h"
#include "agent/core/tool_environment.h"
#include "evals/merge.h"
#include "evals/report.h"
#include "evals/runner.h"
#include "evals/task.h"

namespace dsagent {

void AddEvalCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<EvalCommandOptions>();
  EvalCommandOptions& o = *options;
  auto* cmd = app.add_subcommand(
      "eval", "Run an agent over SWE-bench-style tasks and grade the patches (docs/evals.md)");
  cmd->add_option("--tasks", o.tasks,
                  "SWE-bench JSONL file, a suite directory, or polyglot exercises (required)");
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
  cmd->add_flag("--no-sandbox", o.no_sandbox,
                "Run the agent's shell commands without the sandbox (not recommended)");
  cmd->add_option("--shard", o.shard,
                  "Run only shard K of N (K/N): tasks K, K+N, K+2N, ... in load order; merge the "
                  "shards with `dsagent eval merge`");
  cmd->add_option("--test-ids-cache", o.test_ids_cache,
                  "Where gold runs cache test ids (polyglot; default RUN_DIR/test-ids)");
  auto* merge = cmd->add_subcommand(
      "merge", "Merge shard runs (--shard K/N) of one task set into one run directory");
  merge->add_option("out", o.merge_out, "The merged run directory")->required();
  merge->add_option("dirs", o.merge_dirs, "The shard run directories")->required();
  merge->callback([&o] { o.merge = true; });
  table.BindCancellable(
      cmd, [options](const CancelToken& cancel) { return EvalCommand(*options, cancel); });
}

namespace {

int MergeCommand(const EvalCommandOptions& o) {
  std::vector<std::filesystem::path> dirs(o.merge_dirs.begin(), o.merge_dirs.end());
  auto summary = evals::MergeRuns(o.merge_out, dirs);
  if (!summary) {
    std::fprintf(stderr, "dsagent eval merge: %s\n", summary.error().c_str());
    return kExitUsage;
  }
  const Json& s = *summary;
  std::fputs(evals::LanguageTable(s).c_str(), stderr);
  std::printf("merged %zu shard(s): resolved %d/%d (%.1f%%), errors %d, cost $%.6f; report: %s\n",
              dirs.size(), s["resolved_instances"].get<int>(), s["total_instances"].get<int>(),
              100 * s["resolved_rate"].get<double>(), s["error_instances"].get<int>(),
              s["total_cost_usd"].get<double>(),
              (std::filesystem::path(o.merge_out) / "report.md").c_str());
  return kExitDone;
}

// "K/N" -> {K, N}; nullopt unless 1 <= K <= N.
std::optional<std::pair<int, int>> ParseShard(const std::string& text) {
  int k = 0, n = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%d/%d%c", &k, &n, &extra) != 2 || n < 1 || k < 1 || k > n) {
    return std::nullopt;
  }
  return std::pair{k, n};
}

}  // namespace

int PrepareEvalRun(bool no_sandbox, evals::EvalOptions& e, const char* command) {
  const std::filesystem::path here = std::filesystem::current_path();
  if (e.agent == "dsagent") {  // oracle and noop run no agent commands
    auto sandbox = HeadlessSandboxFlags(no_sandbox, here, e.flags);
    if (!sandbox) {
      std::fprintf(stderr, "%s: %s\n", command, sandbox.error().c_str());
      return kExitConfigAuth;
    }
    e.flags.insert(e.flags.end(), sandbox->begin(), sandbox->end());
  }
  // A configuration that does not load is reported by the agent's run; the tests then get the
  // default policy, which withholds every secret-looking variable.
  auto config = Config::Load({.repo_dir = here,
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = e.flags});
  if (config) {
    auto env = ToolEnvironmentFromConfig(*config, Config::ProcessEnvironment());
    if (!env) {
      std::fprintf(stderr, "%s: %s\n", command, env.error().c_str());
      return kExitConfigAuth;
    }
    e.test_environment = {env->child.vars, env->redactor};
  }
  return 0;
}

int EvalCommand(const EvalCommandOptions& o, const CancelToken& cancel) {
  if (o.merge) return MergeCommand(o);
  if (o.tasks.empty()) {
    std::fprintf(stderr, "dsagent eval: --tasks is required (or: dsagent eval merge OUT DIR...)\n");
    return kExitUsage;
  }
  std::pair<int, int> shard{1, 1};
  if (!o.shard.empty()) {
    auto parsed = ParseShard(o.shard);
    if (!parsed) {
      std::fprintf(stderr, "dsagent eval: --shard %s: want K/N with 1 <= K <= N (e.g. 2/4)\n",
                   o.shard.c_str());
      return kExitUsage;
    }
    shard = *parsed;
  }
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
  e.shard_index = shard.first;
  e.shard_count = shard.second;
  e.test_ids_cache = o.test_ids_cache;
  AppendLaneOverrides(o.lane, e.flags, /*with_policy=*/false);  // the runner adds e.policy
  if (int refused = PrepareEvalRun(o.no_sandbox, e, "dsagent eval"); refused != 0) return refused;
  if (e.shard_count > 1) {
    std::fprintf(stderr, "dsagent eval: shard %d/%d: %zu of %zu task(s)\n", e.shard_index,
                 e.shard_count, evals::ShardTasks(*tasks, e.shard_index, e.shard_count).size(),
                 tasks->size());
  }
  std::fprintf(stderr, "dsagent eval: %zu task(s), agent %s, %d job(s) -> %s\n", tasks->size(),
               o.agent.c_str(), e.jobs, e.out_dir.c_str());
  // On a terminal the last line shows done/total, resolved, $ so far and the ETA, live.
  auto status = std::make_unique<EvalStatusLine>(stderr, ::isatty(STDERR_FILENO) != 0);
  e.on_progress = [&status](const evals::EvalProgress& p) { status->Update(p); };
  auto summary = evals::RunEval(
      *tasks, e, [&status](const std::string& line) { status->Line(line); }, cancel);
  status.reset();  // clears the status line before the summary
  if (!summary) {
    std::fprintf(stderr, "dsagent eval: %s\n", summary.error().message.c_str());
    return summary.error().agent_unusable ? kExitConfigAuth : kExitError;
  }
  const Json& s = *summary;
  std::fputs(evals::LanguageTable(s).c_str(), stderr);  // polyglot runs: one row per language
  std::printf("resolved %d/%d (%.1f%%), errors %d, cost $%.6f, cache hit %.1f%%; report: %s\n",
              s["resolved_instances"].get<int>(), s["total_instances"].get<int>(),
              100 * s["resolved_rate"].get<double>(), s["error_instances"].get<int>(),
              s["total_cost_usd"].get<double>(), 100 * s["cache_hit_rate"].get<double>(),
              (e.out_dir / "report.md").c_str());
  return cancel.IsCancelled() ? kExitInterrupted : kExitDone;
}

}  // namespace dsagent
