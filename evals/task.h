// EvalTask: one task in SWE-bench's instance schema, plus where its repository comes from and how
// its tests run. Loaders for SWE-bench JSONL files and for the project's own suite directories
// (evals/suites/<name>/<task>/task.json, documented in docs/evals.md). Nothing is downloaded.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/expected.h"
#include "common/json.h"

namespace dsagent::evals {

// Where a task's repository lives before the runner clones it.
struct RepoSource {
  enum class Kind {
    kGitDir,     // an existing clone (bare or not): cloned from directly
    kGitBundle,  // a `git bundle` file: unpacked once per run with the git CLI
    kFiles,      // a plain directory tree (suite `repo/`): committed once with a fixed signature
  };
  Kind kind = Kind::kGitDir;
  std::filesystem::path path;
  std::string key;  // identifies the materialised repository within a run (shared by tasks)
  // kFiles only: paths (relative to `path`) left out of the repository (e.g. a polyglot
  // exercise's .meta/ holding the reference solution, and its hidden tests).
  std::vector<std::string> exclude;
};

struct EvalTask {
  // SWE-bench fields.
  std::string instance_id;
  std::string repo;         // "owner/name"
  std::string base_commit;  // may be empty for a kFiles source: the import commit is the base
  std::string problem_statement;
  std::string hints_text;
  std::string patch;       // gold fix (non-test files)
  std::string test_patch;  // applied only at grading time
  std::vector<std::string> fail_to_pass;
  std::vector<std::string> pass_to_pass;
  std::string version;
  // How to run the tests (from the task or the per-repo spec): a bash command run in the
  // repository root, and the format of its output ("pytest", "ctest", "gtest", "junit:<file>",
  // or "" to try every console parser).
  std::string test_cmd;
  std::string test_framework;
  int test_timeout_s = 900;
  // Agent attempts (Aider's polyglot scoring): after a failed try the agent's session resumes with
  // the test output, up to this many tries in all. SWE-bench tasks have 1.
  int tries = 1;
  // The checkout folder's own name, when the task's build depends on it (Exercism's CMake recipe
  // names its executable after the folder); "" = the runner's default folder names.
  std::string checkout_name;
  // FAIL_TO_PASS is every test id the test command's report names when the gold patch is applied
  // (the runner finds them with a gold run before the agent's; polyglot exercises).
  bool fail_to_pass_from_gold = false;
  // gitignore patterns each workspace ignores (build outputs that must not reach the patch).
  std::vector<std::string> ignore;
  RepoSource source;
  Json raw;  // the task as read (kept for the record)
};

// `parent` itself, or `parent/<checkout_name>` for a task that names its checkout folder.
std::filesystem::path CheckoutDir(const std::filesystem::path& parent, const EvalTask& task);

// Parses one task object. FAIL_TO_PASS / PASS_TO_PASS may be JSON strings holding a list (as in
// SWE-bench) or lists. Error: a missing instance_id or problem_statement, or a malformed list.
Expected<EvalTask, std::string> TaskFromJson(const Json& j);

// Per-repository test spec: {"owner/name": {"test_cmd": ..., "test_framework": ...,
// "test_timeout_s": ...}, ...}, optionally keyed further by version ({"owner/name": {"<version>":
// {...}}}). Used when a task has no test_cmd of its own.
using RepoSpecs = Json;

struct LoadOptions {
  std::filesystem::path tasks;       // a .jsonl file or a suite directory
  std::string format;                // "swebench", "suite" or "" (a file: swebench, a dir: suite)
  std::filesystem::path repos_dir;   // clones / bundles named owner__name[.git|.bundle]
  std::filesystem::path repo_specs;  // optional per-repo spec file (JSON); default
                                     // <repos_dir>/specs.json when it exists
};

// Loads every task, resolving each one's repository source and test command. Tasks come back in
// file (JSONL) or directory-name (suite) order. Error: unreadable input, a malformed task, a
// duplicate instance_id, a task whose repository cannot be found, or one with no test command.
Expected<std::vector<EvalTask>, std::string> LoadTasks(const LoadOptions& options);

// "owner/name" -> "owner__name" (SWE-bench's instance-id prefix; the name --repos expects).
std::string RepoDirName(const std::string& repo);

}  // namespace dsagent::evals
