// RunEval: runs an agent on every task and grades each patch the SWE-bench way, in parallel and
// resumably, writing into RUN_DIR:
//   results/<instance_id>.json   one task's verdict, per-test status, agent usage, cost, timings
//   preds.jsonl                  SWE-bench predictions {instance_id, model_name_or_path,
//                                model_patch}
//   summary.json, report.md      the run (report.h); run.json: task set, shard, settings
//   traces/<id>.jsonl            the agent's session trace (agent dsagent)
//   logs/<id>/test_output.txt    the test command's output; logs/<id>/model.patch
// Each task gets a fresh clone at its base commit for the agent and another for grading (deleted
// afterwards unless keep_workspaces), so a task cannot see another's files.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "common/json.h"
#include "evals/evaluate.h"
#include "evals/task.h"

namespace dsagent::evals {

// The run's counts so far, for a live status line.
struct EvalProgress {
  size_t done = 0, total = 0;  // finished tasks / tasks to run (a resumed run counts the rest)
  size_t resolved = 0;
  double cost_usd = 0;
};

// "[12/225] resolved 10 (83.3%) | $0.1234 | 3m02s | ETA 45m10s": the ETA assumes the remaining
// tasks take as long as the finished ones did on average ("ETA --" before the first).
std::string StatusLineText(const EvalProgress& p, double elapsed_s);

struct EvalOptions {
  std::string agent = "dsagent";     // "dsagent" (headless agent), "oracle" (gold patch), "noop"
  std::string policy;                // routing policy for dsagent ("" = config's)
  int jobs = 1;                      // tasks run concurrently
  std::filesystem::path out_dir;     // RUN_DIR
  double max_cost_per_task_usd = 0;  // agent budget per task; 0 = config's max_cost_usd
  int timeout_per_task_s = 0;        // agent wall time per task; 0 = config's timeout_s
  bool resume = false;  // skip tasks whose results/<id>.json exists from an earlier run
  bool keep_workspaces = false;
  // Further config overrides for the agent, as (dotted key, value) (e.g. provider, model).
  std::vector<std::pair<std::string, std::string>> flags;
  // Run only shard `shard_index` (1-based) of `shard_count`: ShardTasks' deterministic slice.
  int shard_index = 1, shard_count = 1;
  // The environment of the test commands (grading and gold runs): tools.env's, as the agent's
  // commands get (the CLI builds it from the configuration); default: the default policy.
  TestEnvironment test_environment;
  // Where gold runs cache the test ids of fail_to_pass_from_gold tasks ("" = RUN_DIR/test-ids).
  std::filesystem::path test_ids_cache;
  // Called with the counts when the run starts and after each finished task (from worker
  // threads, one call at a time, right after the task's progress line).
  std::function<void(const EvalProgress&)> on_progress;
};

// Shard `index` (1-based) of `count`: the tasks at positions index-1, index-1+count, ... of the
// load order (round robin, so each shard gets a similar mix of repositories and languages).
std::vector<EvalTask> ShardTasks(const std::vector<EvalTask>& tasks, int index, int count);

// One line per event for a person watching (stderr): task start/finish with the running resolved
// count, cost and an ETA. Called from worker threads, one call at a time.
using ProgressFn = std::function<void(const std::string& line)>;

// The task text the agent gets: the problem statement and a short instruction.
std::string AgentPrompt(const EvalTask& task);

struct EvalFailure {
  // The agent failed in a way every task would (missing key, bad config, no balance): the run
  // stopped starting tasks; the failing task recorded nothing.
  bool agent_unusable = false;
  std::string message;
};

// Runs every task of the options' shard, then writes run.json (the task set's fingerprint, the
// shard and the settings: what `dsagent eval merge` checks), preds.jsonl, summary.json and
// report.md over the shard's tasks that have results (including ones kept by `resume`). Returns summary.json's object. When `cancel` fires,
// running tasks stop, record nothing (so --resume reruns them) and no new task starts. Error: an
// unknown agent, RUN_DIR cannot be written, or the agent is unusable (outputs are still written
// for the tasks that finished).
Expected<Json, EvalFailure> RunEval(const std::vector<EvalTask>& tasks, const EvalOptions& options,
                                    const ProgressFn& progress, const CancelToken& cancel);

}  // namespace dsagent::evals
