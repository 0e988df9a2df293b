#include "evals/evaluate.h"

#include <chrono>

#include "common/file_io.h"
#include "common/shell_quote.h"
#include "evals/workspace.h"
#include "tools/shell_command.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

// Tries upstream's ladder; returns the method that worked, or an error with every try's reason.
Expected<std::string, std::string> ApplyModelPatch(TaskWorkspace& ws, const std::string& patch,
                                                   const fs::path& patch_file,
                                                   const CancelToken& cancel,
                                                   const TestEnvironment& environment) {
  if (patch.find_first_not_of(" \t\r\n") == std::string::npos) return std::string();
  auto direct = ws.ApplyPatch(patch);
  if (direct) return std::string("libgit2");
  std::string why = direct.error();
  if (auto w = WriteFileAtomic(patch_file, patch); !w) return MakeUnexpected(w.error());
  const std::pair<const char*, std::string> fallbacks[] = {
      {"git apply --reject", "git apply --verbose --reject " + ShellQuote(patch_file.string())},
      {"patch --fuzz=5",
       "patch --batch --forward --fuzz=5 -p1 -i " + ShellQuote(patch_file.string())},
  };
  for (const auto& [name, cmd] : fallbacks) {
    if (auto r = ws.ResetToBase(); !r) return MakeUnexpected(r.error());
    ShellOptions sh;
    sh.cwd = ws.path();
    sh.timeout = std::chrono::seconds(120);
    sh.cancel = cancel;
    sh.environment = environment.vars;
    auto run = RunShellCommand(cmd, sh);
    if (run && run->exit_code == 0) return std::string(name);
    why += std::string("; ") + name + ": " + (run ? run->output : run.error());
  }
  ws.ResetToBase();
  return MakeUnexpected("patch did not apply (" + why + ")");
}

}  // namespace

Evaluation EvaluatePatch(const EvalTask& task, const std::string& model_patch,
                         const fs::path& origin, const fs::path& work_dir,
                         const CancelToken& cancel, const TestEnvironment& environment) {
  Evaluation ev;
  auto fail = [&ev](std::string why) {
    ev.status = "error";
    ev.error = std::move(why);
    return ev;
  };
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  auto ws = TaskWorkspace::Create(origin, task.base_commit, CheckoutDir(work_dir / "repo", task));
  if (!ws) return fail(ws.error());

  auto applied = ApplyModelPatch(**ws, model_patch, work_dir / "model.patch", cancel, environment);
  if (!applied) return fail(applied.error());
  ev.applied_with = *applied;

  auto test_files = PatchedPaths(task.test_patch);
  if (!test_files) return fail("test patch: " + test_files.error());
  if (auto r = (*ws)->ResetPaths(*test_files); !r) return fail("reset test files: " + r.error());
  if (auto r = (*ws)->ApplyPatch(task.test_patch); !r) return fail("test patch: " + r.error());

  ShellOptions sh;
  sh.cwd = (*ws)->path();
  sh.timeout = std::chrono::seconds(task.test_timeout_s);
  sh.output_cap_bytes = 8 << 20;
  sh.cancel = cancel;
  sh.environment = environment.vars;
  sh.extra_env = {{"PYTHONDONTWRITEBYTECODE", "1"}};
  const auto start = std::chrono::steady_clock::now();
  auto run = RunShellCommand(task.test_cmd, sh);
  ev.test_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!run) return fail("test command: " + run.error());
  // Redacted before it is parsed, logged or shown to the agent on its next try.
  ev.test_log = environment.redactor ? environment.redactor->Redact(run->output) : run->output;
  ev.test_exit_code = run->exit_code;
  ev.test_timed_out = run->timed_out;
  if (run->interrupted || cancel.IsCancelled()) {
    ev.interrupted = true;
    return fail("interrupted");
  }

  auto statuses = ParseTestResults(task.test_framework, ev.test_log, (*ws)->path());
  if (!statuses) return fail(statuses.error());
  ev.statuses = std::move(*statuses);
  ev.tests = GradeTests(ev.statuses, task.fail_to_pass, task.pass_to_pass);
  ev.status = ResolutionName(ev.tests.resolution());
  ev.resolved = ev.tests.resolved();
  return ev;
}

}  // namespace dsagent::evals
