// FAIL_TO_PASS from the test runner's own report: for tasks that do not list their tests
// (polyglot exercises: EvalTask::fail_to_pass_from_gold), the ids are every test the task's test
// command reports (and does not skip) when the gold patch is applied, parsed by the same parser
// grading uses — so a
// Catch2 SECTION, a JUnit nested class, a Go subtest, a Rust module path or a jest describe block
// is named exactly as grading will look it up, and tests that never run (Exercism's benchmarks,
// compiled out as Aider compiles them out) are not expected. Thread-safe (each call owns its clone
// and cache file).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "evals/evaluate.h"
#include "evals/task.h"

namespace dsagent::evals {

struct GoldTests {
  std::vector<std::string> ids;     // every test the gold run reported and did not skip, sorted
  std::vector<std::string> failed;  // those of them that did not pass with the gold patch
  bool cached = false;              // read from the cache instead of run
};

// Runs the gold patch through EvaluatePatch in `work_dir` (must not exist; removed afterwards) and
// caches the ids in `cache_dir/<instance_id>.json`, keyed by a hash of the patch, test patch,
// test command and framework (a changed task runs again). Error: the gold run could not happen
// (the patch does not apply, the command cannot start, interrupted) or reported no test at all
// (with the output's tail: usually a missing toolchain).
Expected<GoldTests, std::string> FindGoldTests(const EvalTask& task,
                                               const std::filesystem::path& origin,
                                               const std::filesystem::path& work_dir,
                                               const std::filesystem::path& cache_dir,
                                               const CancelToken& cancel,
                                               const TestEnvironment& environment = {});

}  // namespace dsagent::evals
