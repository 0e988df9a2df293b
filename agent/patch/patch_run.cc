#include "agent/patch/patch_run.h"

#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <random>

#include "agent/core/cost_ledger.h"
#include "agent/core/headless_run.h"
#include "agent/core/termination.h"
#include "common/file_io.h"
#include "common/xdg.h"
#include "tools/sandbox.h"
#include "tools/shell_command.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

std::string RandomId() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  return buf;
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

std::string ChangeName(char status) {
  switch (status) {
    case 'A':
      return "added";
    case 'D':
      return "deleted";
    case 'R':
      return "renamed";
    case 'T':
      return "type changed";
    default:
      return "modified";
  }
}

// Runs the test command in the worktree, under the same sandbox as the agent's commands (the
// agent may have edited what it executes).
TestRun RunTestCommand(const PatchOptions& o, const PatchWorktree& wt, const CancelToken& cancel) {
  TestRun t;
  t.command = o.test_cmd;
  t.exit_code = -1;
  ShellOptions sh;
  sh.cwd = wt.path();
  sh.timeout = std::chrono::seconds(o.test_timeout_s);
  sh.cancel = cancel;
  sh.environment = o.test_environment;
  std::optional<PreparedSandbox> sandbox;
  fs::path temp_dir;
  if (o.sandbox) {
    std::string tmpl = (fs::temp_directory_path() / "dsagent-tmp-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) temp_dir = tmpl;
    SandboxPolicy policy{.enabled = true,
                         .writable = {wt.path(), wt.git_common_dir()},
                         .deny_network = o.deny_network,
                         .temp_dir = temp_dir};
    auto prepared = PreparedSandbox::Prepare(policy);
    if (!prepared) {
      t.output_tail = "refusing to run the test command without the sandbox: " + prepared.error();
      return t;
    }
    sandbox.emplace(std::move(*prepared));
    sh.sandbox = &*sandbox;
    if (!temp_dir.empty()) sh.extra_env.emplace_back("TMPDIR", temp_dir.string());
  }
  auto outcome = RunShellCommand(o.test_cmd, sh);
  if (!temp_dir.empty()) {
    std::error_code ec;
    fs::remove_all(temp_dir, ec);
  }
  if (!outcome) {
    t.output_tail = outcome.error();
    return t;
  }
  t.exit_code = outcome->exit_code;
  t.timed_out = outcome->timed_out;
  t.output_tail = Tail(o.redactor ? o.redactor->Redact(outcome->output) : outcome->output, 4000);
  return t;
}

std::string Report(const PatchOptions& o, const PatchResult& r) {
  std::string md = "## dsagent patch: " + o.issue.title + "\n\n";
  md += "**Outcome:** " + r.outcome + "\n\n### Summary\n\n" +
        (r.envelope.result.empty() ? "(no summary)" : r.envelope.result) + "\n\n### Changes\n\n";
  if (r.diff.empty()) {
    md += "No files changed.\n";
  } else {
    md += "| file | change | + | - |\n|---|---|---|---|\n";
    for (const FileChange& f : r.diff.files) {
      md += "| `" + f.path + "` | " + ChangeName(f.status) + " | " +
            (f.binary ? "binary" : std::to_string(f.insertions)) + " | " +
            (f.binary ? "" : std::to_string(f.deletions)) + " |\n";
    }
    md += "\n" + std::to_string(r.diff.files.size()) + " file(s), +" +
          std::to_string(r.diff.insertions) + " -" + std::to_string(r.diff.deletions) + "\n";
  }
  md += "\n### Tests\n\n";
  if (r.tests.empty()) md += "No test command was given.\n";
  for (const auto& t : r.tests) {
    md += "- `" + t.command + "`: " +
          (t.passed()    ? "passed"
           : t.timed_out ? "timed out"
                         : "failed (exit " + std::to_string(t.exit_code) + ")") +
          "\n";
  }
  const Usage& u = r.envelope.usage;
  char cost[256];
  std::snprintf(cost, sizeof cost,
                "\n### Cost\n\n$%.4f over %d model call(s); tokens: %lld cache-hit input, %lld "
                "cache-miss input, %lld output (%lld reasoning); cache-hit rate %.1f%%\n",
                r.envelope.cost_usd, r.envelope.steps, static_cast<long long>(u.input_cache_hit),
                static_cast<long long>(u.input_cache_miss), static_cast<long long>(u.output),
                static_cast<long long>(u.reasoning), 100.0 * CacheHitRate(u));
  md += cost;
  md += "\nBase commit `" + r.base_commit + "`" +
        (r.commit.empty() ? "" : ", commit `" + r.commit + "` on `" + r.branch + "`") +
        "; session `" + r.envelope.session_id + "`" +
        (r.trace_path.empty() ? "" : ", trace `" + r.trace_path.string() + "`") + ".\n";
  if (!r.worktree.empty()) md += "Worktree kept at `" + r.worktree.string() + "`.\n";
  md += !o.sandbox ? "\n_Shell commands ran without an OS sandbox (--no-sandbox)._\n"
        : o.deny_network
            ? "\n_Shell commands ran under Landlock: writes only in the worktree, no TCP._\n"
            : "\n_Shell commands ran under Landlock: writes only in the worktree; network "
              "allowed._\n";
  md += "_Review the diff before merging._\n";
  return md;
}

}  // namespace

std::string PatchCommitMessage(const IssueTask& issue, const std::string& summary) {
  std::string msg = issue.title.empty() ? "dsagent patch" : issue.title;
  if (msg.size() > 72) msg = msg.substr(0, 69) + "...";
  msg += "\n\n";
  if (!summary.empty()) msg += summary + "\n\n";
  if (issue.number > 0) msg += "Fixes #" + std::to_string(issue.number) + "\n";
  msg += "Generated by dsagent patch.\n";
  return msg;
}

PatchResult RunPatch(const PatchOptions& o, AgentObserver& observer, const CancelToken& cancel) {
  PatchResult r;
  const auto finish = [&](int code, std::string outcome) {
    r.exit_code = code;
    r.outcome = std::move(outcome);
    r.report = Report(o, r);
    if (!o.report_out.empty()) WriteFileAtomic(o.report_out, r.report);
    return r;
  };
  const fs::path repo = o.repo.empty() ? fs::current_path() : o.repo;
  const std::string id = RandomId();
  auto wt = PatchWorktree::Create(repo, XdgCacheHome() / "dsagent" / "patch", id);
  if (!wt) {
    r.envelope.termination = {TerminationReason::kErrorUsage, wt.error()};
    return finish(kExitUsage, r.envelope.termination.Name());
  }
  r.base_commit = (*wt)->base_commit();

  // The agent, then the tests, then up to max_fix_rounds resumes with the failing output.
  HeadlessRunOptions run;
  run.task = o.issue.text;
  run.repo = (*wt)->path();
  LocalEngines engines;  // provider local: the fix rounds reuse the model the first one loaded
  run.local_engines = &engines;
  run.local_load = o.local_load;
  for (int round = 0;; ++round) {
    run.flags = o.flags;
    run.flags.emplace_back("sandbox.enabled", o.sandbox ? "true" : "false");
    run.flags.emplace_back("sandbox.deny_network", o.deny_network ? "true" : "false");
    if (o.max_cost_usd > 0) {
      const double left = o.max_cost_usd - r.envelope.cost_usd;
      run.flags.emplace_back("max_cost_usd", std::to_string(left > 0 ? left : 1e-9));
    }
    if (o.progress) o.progress->OnRoundStart(round + 1, run.task);
    const HeadlessRunResult h = HeadlessRun(run, observer, cancel);
    if (round == 0) r.warnings = h.warnings;
    AccumulateRun(r.envelope, h.envelope);
    if (!h.trace_path.empty()) r.trace_path = h.trace_path;
    if (r.envelope.termination.reason != TerminationReason::kDone || o.test_cmd.empty()) break;

    const TestRun t = RunTestCommand(o, **wt, cancel);
    r.tests.push_back(t);
    if (o.progress) o.progress->OnTestRun(round + 1, t);
    if (t.passed() || round >= o.max_fix_rounds || cancel.IsCancelled()) break;
    if (o.max_cost_usd > 0 && r.envelope.cost_usd >= o.max_cost_usd) break;
    run.resume = r.envelope.session_id;
    run.trace_file = r.trace_path;
    run.task = "The test command `" + o.test_cmd + "` failed (" +
               (t.timed_out ? "timed out" : "exit " + std::to_string(t.exit_code)) +
               "). Its output ends with:\n```\n" + t.output_tail +
               "\n```\nFix the code so that it passes, then reply with a short summary.";
  }

  auto diff = (*wt)->Diff();
  if (diff) r.diff = std::move(*diff);
  if (o.keep_worktree) {
    (*wt)->Keep();
    r.worktree = (*wt)->path();
  }
  if (!o.patch_out.empty() && !r.diff.empty()) WriteFileAtomic(o.patch_out, r.diff.patch);

  const Termination& term = r.envelope.termination;
  if (term.reason != TerminationReason::kDone) return finish(term.ExitCode(), term.Name());
  if (!diff) {
    r.envelope.termination = {TerminationReason::kErrorGit, diff.error()};
    return finish(kExitError, r.envelope.termination.Name());
  }
  if (r.diff.empty()) return finish(kExitNoChange, "no_change");
  if (o.commit) {
    auto commit = (*wt)->Commit(PatchCommitMessage(o.issue, r.envelope.result));
    const std::string branch = !o.branch.empty() ? o.branch
                               : o.issue.number > 0
                                   ? "dsagent/issue-" + std::to_string(o.issue.number)
                                   : "dsagent/patch-" + id;
    if (!commit) {
      r.envelope.termination = {TerminationReason::kErrorGit, commit.error()};
      return finish(kExitError, r.envelope.termination.Name());
    }
    if (auto published = (*wt)->PublishBranch(branch, *commit); !published) {
      r.envelope.termination = {TerminationReason::kErrorGit, published.error()};
      return finish(kExitError, r.envelope.termination.Name());
    }
    r.commit = *commit;
    r.branch = branch;
  }
  if (!r.tests.empty() && !r.tests.back().passed()) return finish(kExitTestsFailed, "tests_failed");
  return finish(kExitDone, "patched");
}

}  // namespace dsagent
