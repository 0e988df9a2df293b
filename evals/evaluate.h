// EvaluatePatch: SWE-bench's evaluation of one prediction, without containers. In a fresh clone at
// the task's base commit: apply the model patch (libgit2, then `git apply --reject`, then
// `patch --fuzz=5`, resetting between tries, as upstream falls back), restore the files the test
// patch touches to the base, apply the test patch, run the task's test command, parse per-test
// results and grade them (grading.h). Thread-safe (each call owns its clone).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/cancel.h"
#include "evals/grading.h"
#include "evals/task.h"
#include "tools/env_policy.h"
#include "tools/redactor.h"

namespace dsagent::evals {

// What a task's commands (the test command, the patch fallbacks) run with: the environment the
// agent's tool subprocesses get under `tools.env` (agent/core/tool_environment.h), so a test suite
// cannot print dsagent's keys into a log the agent is shown on its next try, and the redactor of
// those secrets for the output. Unset `vars`: the default policy (no secret-looking variables);
// null `redactor`: no redaction.
struct TestEnvironment {
  std::optional<EnvMap> vars;
  std::shared_ptr<const Redactor> redactor;
};

struct Evaluation {
  // "RESOLVED_FULL", "RESOLVED_PARTIAL", "RESOLVED_NO", or "error" (the patch did not apply, the
  // test patch did not apply, the clone or the test command could not start, or interrupted).
  std::string status = "error";
  bool resolved = false;
  std::string error;         // why, when status is "error"
  bool interrupted = false;  // `cancel` fired: the verdict means nothing
  std::string applied_with;  // "libgit2", "git apply --reject", "patch --fuzz=5"; "" when empty
  TestStatusMap statuses;    // parsed per-test results
  TestsReport tests;
  int test_exit_code = -1;
  bool test_timed_out = false;
  double test_wall_s = 0;
  std::string test_log;  // the test command's output (capped at 8 MiB, head and tail)
};

// `origin`: the repository to clone (RepoStore::Materialize). `work_dir` must not exist; it is
// left behind for inspection (the caller deletes it).
Evaluation EvaluatePatch(const EvalTask& task, const std::string& model_patch,
                         const std::filesystem::path& origin, const std::filesystem::path& work_dir,
                         const CancelToken& cancel, const TestEnvironment& environment = {});

}  // namespace dsagent::evals
