// Aider polyglot exercise folders (`<lang>/exercises/practice/<name>/` with `.docs/`,
// `.meta/config.json`, stubs and tests) as EvalTasks, graded through the SWE-bench path:
//   instance_id  polyglot__<lang>-<name>
//   repository   the exercise folder without `.meta/` and without the test files (tests are hidden
//                from the agent, as in SWE-bench, and added at grading by test_patch)
//   problem      .docs/introduction.md + instructions.md + instructions.append.md + Aider's
//   addendum patch        stub -> `.meta` example (the oracle), test_patch = the test files as new
//   files FAIL_TO_PASS every test in the test files; PASS_TO_PASS empty; tries = 2 (Aider's
//   scoring)
// Languages so far: python (pytest) and cpp (CMake + Catch2, graded from Catch2's JUnit report).
// Nothing is downloaded; the folders come from the user.
#pragma once

#include <filesystem>
#include <vector>

#include "common/expected.h"
#include "evals/task.h"

namespace dsagent::evals {

// `root`: a polyglot checkout, one language folder, or one exercise folder. Exercises come back
// sorted by path. Error: no exercise found, an unreadable or malformed .meta/config.json, a
// language not supported yet, or a test file without tests.
Expected<std::vector<EvalTask>, std::string> LoadPolyglot(const std::filesystem::path& root);

// pytest ids of the tests in a Python test file: `file::Class::test_x` for unittest methods and
// `file::test_x` for module-level functions.
std::vector<std::string> PythonTestIds(const std::string& file_name, const std::string& source);

// Catch2 ids of the TEST_CASEs in a C++ test file, as Catch2's JUnit reporter names them when run
// with `-n tests`: `tests.global::<test case name>`.
std::vector<std::string> CatchTestIds(const std::string& file_name, const std::string& source);

}  // namespace dsagent::evals
