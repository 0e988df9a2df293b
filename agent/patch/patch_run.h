// RunPatch: `dsagent patch` end to end — a worktree at HEAD, the headless agent on the issue, the
// test command (with fix-up rounds), the diff, an optional commit on a branch, and a report.
// The caller's working tree and index are never touched.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/agent_loop.h"
#include "agent/core/run_envelope.h"
#include "agent/patch/issue_source.h"
#include "agent/patch/patch_worktree.h"
#include "agent/providers/local_engines.h"
#include "common/cancel.h"
#include "tools/env_policy.h"
#include "tools/redactor.h"

namespace dsagent {

// Exit codes: those of `dsagent run` plus kExitNoChange (6) and kExitTestsFailed (7), all in
// agent/core/termination.h.

struct TestRun;

// Patch-level progress beside the agent's own (AgentObserver, which sees every round's session
// start, model calls and tools): the rounds and the test runs. Called on RunPatch's thread; every
// method defaults to doing nothing.
class PatchObserver {
 public:
  virtual ~PatchObserver() = default;
  // Agent round `round` starts: 1 works on the issue, 2.. are fix-up rounds given the failing
  // test output (`task` is what the agent is told).
  virtual void OnRoundStart(int /*round*/, const std::string& /*task*/) {}
  // The test command ran after round `round`; `test.output_tail` is already redacted.
  virtual void OnTestRun(int /*round*/, const TestRun& /*test*/) {}
};

struct PatchOptions {
  std::filesystem::path repo;  // any directory inside the repository; empty = current directory
  IssueTask issue;
  std::string branch;  // branch for --commit (default dsagent/issue-<n> or dsagent/<id>)
  bool commit = false;
  std::filesystem::path patch_out;   // write the unified diff here
  std::filesystem::path report_out;  // write the markdown report here
  std::string test_cmd;              // run in the worktree after the agent
  int test_timeout_s = 900;
  int max_fix_rounds = 2;      // resumes of the agent with the failing test output
  double max_cost_usd = 0;     // across all rounds; 0 = config's max_cost_usd per round
  bool keep_worktree = false;  // leave the worktree (and its temporary branch) for inspection
  // Landlock for the agent's shell commands and the test command: writes only in the worktree,
  // the git directory and a private TMPDIR; with deny_network also no TCP. The caller checks
  // support (ProbeSandbox) first: a sandbox that cannot be applied makes commands fail.
  bool sandbox = false;
  bool deny_network = false;
  std::vector<std::pair<std::string, std::string>> flags;  // config overrides (policy, timeout_s)
  // The test command's environment (tools/env_policy.h); unset: the default policy's.
  std::optional<EnvMap> test_environment;
  // Applied to the test command's output before it is reported or given to the agent; may be null.
  std::shared_ptr<const Redactor> redactor;
  PatchObserver* progress = nullptr;  // rounds and test runs; not owned, may be null
  // Provider local: what a person is told while the model loads (once: the fix rounds keep it).
  LocalLoadNotices local_load;
};

struct TestRun {
  std::string command;
  int exit_code = 0;
  bool timed_out = false;
  std::string output_tail;  // last few KB
  bool passed() const { return exit_code == 0 && !timed_out; }
};

struct PatchResult {
  RunEnvelope envelope;  // summed over the agent's rounds
  int exit_code = 0;
  std::string outcome;  // "patched", "no_change", "tests_failed", or the run's termination
  WorktreeDiff diff;
  std::string base_commit;
  std::string branch, commit;  // set when committed
  std::vector<TestRun> tests;
  std::filesystem::path trace_path;
  std::filesystem::path worktree;  // set when it was kept (keep_worktree)
  std::string report;              // markdown, suitable as a PR body
  std::vector<std::string>
      warnings;  // the first round's config warnings (e.g. MCP servers left out)
};

// Never throws; every failure is in the result (exit_code, outcome, envelope.termination). The
// report file and patch file are written when asked for, whatever the outcome (the patch only when
// non-empty).
PatchResult RunPatch(const PatchOptions& options, AgentObserver& observer,
                     const CancelToken& cancel);

// The commit message: the issue title, the agent's summary, "Fixes #N" when known.
std::string PatchCommitMessage(const IssueTask& issue, const std::string& agent_summary);

}  // namespace dsagent
