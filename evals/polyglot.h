// Aider polyglot exercise folders (`<lang>/exercises/practice/<name>/` with `.docs/`,
// `.meta/config.json`, stubs and tests) as EvalTasks, graded through the SWE-bench path:
//   instance_id  polyglot__<lang>-<name>
//   repository   the exercise folder without `.meta/` and without the test files (tests are hidden
//                from the agent, as in SWE-bench, and added at grading by test_patch)
//   problem      .docs/introduction.md + instructions.md + instructions.append.md + Aider's
//                addendum
//   patch        stub -> `.meta` example (the oracle); test_patch = the test files as new files
//   FAIL_TO_PASS every test the runner's report names when the example solution is tested (found
//                by the eval runner's gold run: fail_to_pass_from_gold); PASS_TO_PASS empty
//   tries        2 (Aider's scoring)
// All six languages (polyglot_languages.h says how each one is tested). Nothing is downloaded; the
// folders come from the user.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common/expected.h"
#include "evals/task.h"

namespace dsagent::evals {

// `root`: a polyglot checkout, one language folder, or one exercise folder. Exercises come back
// sorted by path. Error: no exercise found, an unreadable or malformed .meta/config.json, an
// unknown language, or one whose toolchain is not installed here (the message says how to get it).
Expected<std::vector<EvalTask>, std::string> LoadPolyglot(const std::filesystem::path& root);

// Where each example file goes in the gold patch, as (example, target) pairs: the solution file
// of the same name, else the first unpaired solution file with the same extension (example.cpp ->
// hamming.cpp), else a new file beside the first solution of that extension (Java helper classes).
// Solution files no example pairs with are left as they are (Rust's Cargo.toml).
std::vector<std::pair<std::string, std::string>> GoldTargets(
    const std::vector<std::string>& solution, const std::vector<std::string>& examples);

}  // namespace dsagent::evals
