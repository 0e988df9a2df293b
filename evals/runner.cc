#include "evals/runner.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "agent/core/headless_run.h"
#include "agent/core/trace.h"
#include "agent/providers/local_engines.h"
#include "common/file_io.h"
#include "evals/evaluate.h"
#include "evals/gold_tests.h"
#include "evals/report.h"
#include "evals/run_manifest.h"
#include "evals/trajectory.h"
#include "evals/workspace.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string ModelName(const EvalOptions& o) {
  if (o.agent == "oracle") return "gold";
  if (o.agent == "noop") return "noop";
  return o.policy.empty() ? "dsagent" : "dsagent+" + o.policy;
}

struct AgentOutcome {
  RunEnvelope envelope;  // summed over tries; zeros for oracle/noop
  fs::path trace_path;
  std::string patch;
  std::string error;  // the agent's workspace failed (not the agent's own termination)
  bool interrupted = false;
};

// The local engine every task's sessions share (provider local: loaded once for the run), and
// what the run's log is told while it loads.
struct SharedEngine {
  LocalEngines& engines;
  const LocalLoadNotices& notices;
};

// One try of the agent in `ws`: the first starts a session with the task, later ones resume it
// with `message` (the failing test output). Updates `out` (usage summed, patch re-extracted).
void AgentTry(const EvalTask& task, const EvalOptions& o, const SharedEngine& engine,
              TaskWorkspace& ws, const std::string& message, AgentOutcome& out,
              const CancelToken& cancel) {
  if (o.agent == "oracle") {
    if (auto a = ws.ApplyPatch(task.patch); !a) out.error = "gold patch: " + a.error();
  } else if (o.agent == "dsagent") {
    HeadlessRunOptions run;
    run.flags = o.flags;
    run.local_engines = &engine.engines;
    run.local_load = engine.notices;
    if (!o.policy.empty()) run.flags.emplace_back("routing.policy", o.policy);
    if (o.max_cost_per_task_usd > 0) {  // the budget covers every try
      const double left = o.max_cost_per_task_usd - out.envelope.cost_usd;
      run.flags.emplace_back("max_cost_usd", std::to_string(left > 0 ? left : 1e-9));
    }
    if (o.timeout_per_task_s > 0) {
      run.flags.emplace_back("timeout_s", std::to_string(o.timeout_per_task_s));
    }
    std::error_code ec;
    if (out.envelope.session_id.empty()) {
      run.task = AgentPrompt(task);
      run.repo = ws.path();
      run.trace_file = o.out_dir / "traces" / (task.instance_id + ".jsonl");
      fs::remove(run.trace_file, ec);  // an interrupted earlier attempt: start over
      fs::create_directories(run.trace_file.parent_path(), ec);
    } else {
      run.task = message;
      run.resume = out.envelope.session_id;
      run.trace_file = out.trace_path;
    }
    AgentObserver quiet;  // per-step commentary would interleave across jobs; the trace has it
    HeadlessRunResult r = HeadlessRun(run, quiet, cancel);
    AccumulateRun(out.envelope, r.envelope);
    if (!r.trace_path.empty()) out.trace_path = r.trace_path;
    out.interrupted = r.envelope.termination.reason == TerminationReason::kInterrupted;
  }
  auto diff = ws.DiffAgainstBase();
  if (!diff) {
    out.error = "diff: " + diff.error();
  } else {
    out.patch = std::move(*diff);
  }
}

std::string RetryMessage(const Evaluation& ev) {
  std::string tail = ev.test_log;
  if (tail.size() > 4000) tail = "..." + tail.substr(tail.size() - 4000);
  return "The hidden tests failed (exit " + std::to_string(ev.test_exit_code) +
         "). Their output ends with:\n```\n" + tail +
         "\n```\nThe tests are correct, don't try to change them. Fix the code so that they "
         "pass, then reply with a short summary.";
}

// An agent failure that every other task would hit too (no key, bad config, no balance, an
// engine whose GPU is lost).
bool AgentUnusable(const Termination& t) {
  return t.reason == TerminationReason::kErrorConfig || t.reason == TerminationReason::kErrorAuth ||
         t.reason == TerminationReason::kErrorBilling || t.reason == TerminationReason::kErrorUsage ||
         t.reason == TerminationReason::kErrorEngineLost;
}

// True when `text` says that the disk (or the quota) is full. A task that met a full disk tells
// nothing about the agent or the patch: recorded as a verdict ("error", or a test build that
// failed), --resume would keep it. The disk-full campaign found exactly that.
bool SaysDiskFull(const std::string& text) {
  return text.find(std::strerror(ENOSPC)) != std::string::npos ||
         text.find(std::strerror(EDQUOT)) != std::string::npos;
}

// One task end to end; nullopt when interrupted, when the agent cannot run at all (`fatal` set)
// or when the disk filled up (`disk_full` set): nothing is recorded then, so --resume reruns it.
std::optional<Json> RunTask(const EvalTask& task, const EvalOptions& o, const SharedEngine& engine,
                            RepoStore& store, const CancelToken& cancel, std::string* fatal,
                            std::string* disk_full) {
  const auto start = Clock::now();
  const fs::path work = o.out_dir / "work" / task.instance_id;
  std::error_code ec;
  fs::remove_all(work, ec);
  Json result = {{"instance_id", task.instance_id},
                 {"repo", task.repo},
                 {"agent", o.agent},
                 {"policy", o.policy},
                 {"model_name_or_path", ModelName(o)},
                 {"resolved", false}};
  auto origin = store.Materialize(task.source);
  AgentOutcome agent;
  Evaluation ev;
  Json tries = Json::array();  // one verdict per try (Aider's tests_outcomes)
  double agent_wall_s = 0;
  std::string base_commit = task.base_commit;
  std::unique_ptr<TaskWorkspace> ws;
  EvalTask graded = task;  // with FAIL_TO_PASS from the gold run when the task asks for it
  if (origin && task.fail_to_pass_from_gold) {
    const fs::path cache = o.test_ids_cache.empty() ? o.out_dir / "test-ids" : o.test_ids_cache;
    auto gold = FindGoldTests(task, *origin, work / "gold", cache, cancel, o.test_environment);
    if (cancel.IsCancelled()) return std::nullopt;
    if (gold) {
      graded.fail_to_pass = gold->ids;
      if (!gold->failed.empty()) result["gold_failed_tests"] = gold->failed;
    } else {
      ev.error = gold.error();
    }
  }
  if (origin && ev.error.empty()) {
    auto created =
        TaskWorkspace::Create(*origin, task.base_commit, CheckoutDir(work / "agent", task));
    if (created) {
      ws = std::move(*created);
      base_commit = ws->base_commit();
      if (auto i = ws->Ignore(task.ignore); !i) ev.error = "agent workspace: " + i.error();
    } else {
      ev.error = "agent workspace: " + created.error();
    }
  } else if (!origin) {
    ev.error = "repository: " + origin.error();
  }
  if (!ev.error.empty()) ws.reset();
  // Only the real agent gets more tries; it stops at the first resolved one.
  const int max_tries = o.agent == "dsagent" ? task.tries : 1;
  for (int attempt = 0; ws && attempt < max_tries; ++attempt) {
    if (attempt > 0 && (ev.resolved || ev.status == "error" ||
                        agent.envelope.termination.reason != TerminationReason::kDone)) {
      break;
    }
    const auto agent_start = Clock::now();
    AgentTry(task, o, engine, *ws, attempt > 0 ? RetryMessage(ev) : "", agent, cancel);
    agent_wall_s += Seconds(agent_start);
    if (agent.interrupted || cancel.IsCancelled()) return std::nullopt;
    if (AgentUnusable(agent.envelope.termination)) {
      *fatal = std::string(agent.envelope.termination.Name()) + ": " +
               agent.envelope.termination.message;
      return std::nullopt;
    }
    if (!agent.error.empty()) {
      ev = Evaluation();
      ev.error = agent.error;
      break;
    }
    ev = EvaluatePatch(graded, agent.patch, *origin,
                       work / ("eval-" + std::to_string(attempt + 1)), cancel, o.test_environment);
    if (ev.interrupted) return std::nullopt;
    tries.push_back(ev.resolved);
  }
  const fs::path logs = o.out_dir / "logs" / task.instance_id;
  WriteFileAtomic(logs / "test_output.txt", ev.test_log);
  if (!agent.trace_path.empty()) {  // the documented trajectory beside the raw trace
    if (auto trace = ReadTrace(agent.trace_path)) {
      std::string lines;
      for (const Json& line : TrajectoryFromTrace(trace->events)) lines += line.dump() + "\n";
      const fs::path traj = o.out_dir / "trajs" / (task.instance_id + ".jsonl");
      if (WriteFileAtomic(traj, lines)) result["traj_path"] = traj.string();
    }
  }
  WriteFileAtomic(logs / "model.patch", agent.patch);
  ws.reset();
  if (!o.keep_workspaces) fs::remove_all(work, ec);
  for (const std::string* why : {&ev.error, &agent.error, &agent.envelope.termination.message}) {
    if (SaysDiskFull(*why)) *disk_full = *why;
  }
  if (disk_full->empty() && !ev.resolved && SaysDiskFull(ev.test_log)) {
    *disk_full = "the test output says: " + std::string(std::strerror(ENOSPC));
  }
  if (!disk_full->empty()) return std::nullopt;

  Json statuses = Json::object();
  for (const auto& [name, s] : ev.statuses) statuses[name] = TestStatusName(s);
  result["status"] = ev.status;
  result["resolved"] = ev.resolved;
  if (!ev.error.empty()) result["error"] = ev.error;
  result["model_patch"] = agent.patch;
  result["empty_patch"] = agent.patch.find_first_not_of(" \t\r\n") == std::string::npos;
  result["patch_applied_with"] = ev.applied_with;
  result["base_commit"] = base_commit;
  if (task.tries > 1) result["tries"] = tries;
  result["tests_status"] = TestsReportToJson(ev.tests);
  result["f2p_rate"] = ev.tests.f2p_rate();
  result["p2p_rate"] = ev.tests.p2p_rate();
  result["test_results"] = statuses;
  result["test_exit_code"] = ev.test_exit_code;
  result["test_timed_out"] = ev.test_timed_out;
  result["test_log"] = (logs / "test_output.txt").string();
  Json env = EnvelopeToJson(agent.envelope);
  env.erase("result");
  env["pro_share"] = ProShare(env["models"]);
  result["agent_run"] = env;
  result["trace_path"] = agent.trace_path.string();
  result["agent_wall_s"] = agent_wall_s;
  result["test_wall_s"] = ev.test_wall_s;
  result["wall_s"] = Seconds(start);
  return result;
}

std::string Duration(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

}  // namespace

std::string StatusLineText(const EvalProgress& p, double elapsed_s) {
  char line[256];
  const double rate = p.done > 0 ? 100.0 * p.resolved / p.done : 0;
  const std::string eta =
      p.done > 0 ? Duration(elapsed_s / p.done * static_cast<double>(p.total - p.done)) : "--";
  std::snprintf(line, sizeof line, "[%zu/%zu] resolved %zu (%.1f%%) | $%.4f | %s | ETA %s", p.done,
                p.total, p.resolved, rate, p.cost_usd, Duration(elapsed_s).c_str(), eta.c_str());
  return line;
}

std::string AgentPrompt(const EvalTask& task) {
  std::string prompt = task.problem_statement;
  if (!prompt.empty() && prompt.back() != '\n') prompt += '\n';
  prompt +=
      "\nResolve this issue by changing the code in this repository (the current directory). "
      "Hidden tests will check the fix; do not modify existing tests. When done, reply with a "
      "short summary.";
  return prompt;
}

std::vector<EvalTask> ShardTasks(const std::vector<EvalTask>& tasks, int index, int count) {
  std::vector<EvalTask> out;
  if (count < 1 || index < 1 || index > count) return out;
  for (size_t i = static_cast<size_t>(index - 1); i < tasks.size(); i += count) {
    out.push_back(tasks[i]);
  }
  return out;
}

Expected<Json, EvalFailure> RunEval(const std::vector<EvalTask>& all_tasks, const EvalOptions& o,
                                    const ProgressFn& progress, const CancelToken& cancel) {
  if (o.shard_count < 1 || o.shard_index < 1 || o.shard_index > o.shard_count) {
    return MakeUnexpected(EvalFailure{false, "shard " + std::to_string(o.shard_index) + "/" +
                                                 std::to_string(o.shard_count) +
                                                 " is not K/N with 1 <= K <= N"});
  }
  const std::vector<EvalTask> tasks = ShardTasks(all_tasks, o.shard_index, o.shard_count);
  if (o.agent != "dsagent" && o.agent != "oracle" && o.agent != "noop") {
    return MakeUnexpected(
        EvalFailure{false, "unknown agent '" + o.agent + "' (dsagent, oracle or noop)"});
  }
  std::error_code ec;
  fs::create_directories(o.out_dir / "results", ec);
  if (ec) {
    return MakeUnexpected(
        EvalFailure{false, "cannot create " + o.out_dir.string() + ": " + ec.message()});
  }

  const Json manifest = RunManifestFor(all_tasks, o);
  // Results kept by --resume must come from the same settings (the task set may grow).
  if (auto earlier = ReadRunManifest(o.out_dir); o.resume && earlier) {
    if ((*earlier)["settings"] != manifest["settings"]) {
      return MakeUnexpected(EvalFailure{
          false, "cannot resume " + o.out_dir.string() + ": it holds a run with other settings (" +
                     (*earlier)["settings"].dump() + ")"});
    }
  }
  if (auto m = WriteRunManifest(o.out_dir, manifest); !m) {
    return MakeUnexpected(EvalFailure{false, m.error()});
  }
  std::vector<size_t> todo;
  int kept = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (o.resume && fs::exists(ResultPath(o.out_dir, tasks[i].instance_id))) {
      ++kept;
    } else {
      todo.push_back(i);
    }
  }
  std::mutex mu;  // guards the counters and serialises `progress`
  int done = 0, resolved = 0;
  double cost = 0;
  const auto start = Clock::now();
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  if (kept > 0) say("resume: " + std::to_string(kept) + " task(s) already finished, skipped");
  auto report = [&] {
    if (o.on_progress) {
      o.on_progress(EvalProgress{static_cast<size_t>(done), todo.size(),
                                 static_cast<size_t>(resolved), cost});
    }
  };
  report();
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::string fatal;      // guarded by mu
  std::string disk_full;  // guarded by mu: why a task or its result was not recorded
  RepoStore store(o.out_dir / "repos");
  // Provider local: the model loads once, for the first task, and its notices go to the log; the
  // jobs' turns run on it together, their decode steps batched.
  LocalEngines engines(o.jobs);
  const LocalLoadNotices notices = LocalLoadLines([&](const std::string& line) {
    std::lock_guard lock(mu);
    say(line);
  });
  const SharedEngine engine{engines, notices};
  auto run_worker = [&] {
    for (;;) {
      const size_t k = next.fetch_add(1);
      if (k >= todo.size() || cancel.IsCancelled() || stop) return;
      const EvalTask& task = tasks[todo[k]];
      std::string task_fatal, task_disk_full;
      std::optional<Json> r = RunTask(task, o, engine, store, cancel, &task_fatal, &task_disk_full);
      std::lock_guard lock(mu);
      if (!task_disk_full.empty()) {
        say("not recorded: " + task.instance_id + ": " + task_disk_full);
        if (disk_full.empty()) disk_full = task_disk_full;
        stop = true;  // the next tasks would meet the same full disk
        continue;
      }
      if (!task_fatal.empty()) {
        if (fatal.empty()) say("stopping: the agent cannot run: " + task_fatal);
        if (fatal.empty()) fatal = task_fatal;
        stop = true;
        continue;
      }
      if (!r) {
        say("interrupted: " + task.instance_id + " (not recorded)");
        continue;
      }
      // A task still running when another met what stops the run, whose agent then ended in an
      // error (a server that lost its GPU exits: the next calls cannot connect), says nothing
      // about the agent: left for --resume, as the task that stopped the run is.
      if (const std::string ended = (*r)["agent_run"].value("termination_reason", "");
          !fatal.empty() && ended.rfind("error:", 0) == 0) {
        say("not recorded: " + task.instance_id + " (" + ended + " after the run stopped)");
        continue;
      }
      auto w = WriteFileAtomic(ResultPath(o.out_dir, task.instance_id), r->dump(2) + "\n");
      if (!w) {
        say("error: " + w.error());
        if (disk_full.empty()) disk_full = w.error();
      }
      ++done;
      resolved += (*r)["resolved"].get<bool>() ? 1 : 0;
      const double task_cost = (*r)["agent_run"]["cost_usd"].get<double>();
      cost += task_cost;
      const double elapsed = Seconds(start);
      const double eta = elapsed / done * static_cast<double>(todo.size() - done);
      char line[512];
      std::snprintf(
          line, sizeof line, "[%d/%zu] %-16s %s  $%.4f %.1fs | resolved %d/%d | $%.4f | ETA %s",
          done, todo.size(), (*r)["status"].get<std::string>().c_str(), task.instance_id.c_str(),
          task_cost, (*r)["wall_s"].get<double>(), resolved, done, cost, Duration(eta).c_str());
      say(line);
      report();
    }
  };
  const int jobs = std::max(1, std::min<int>(o.jobs, static_cast<int>(todo.size())));
  std::vector<std::thread> threads;
  for (int i = 1; i < jobs; ++i) threads.emplace_back(run_worker);
  run_worker();
  for (auto& t : threads) t.join();

  auto summary = WriteRunOutputs(tasks, o.out_dir, RunInfo{o.agent, o.policy, ModelName(o)});
  if (!fatal.empty()) return MakeUnexpected(EvalFailure{true, "the agent cannot run: " + fatal});
  if (!summary) return MakeUnexpected(EvalFailure{false, summary.error()});
  if (!disk_full.empty()) {
    return MakeUnexpected(EvalFailure{
        false, "stopped: " + disk_full +
                   "; the tasks it hit were not recorded. Free some space and run again with "
                   "--resume"});
  }
  return *summary;
}

}  // namespace dsagent::evals
