// EvaluatePatch and the workspace plumbing on real git repositories (clones, bundles, file trees).
#include "evals/evaluate.h"

#include <gtest/gtest.h>

#include "evals/runner.h"
#include "evals/workspace.h"
#include "tests/support/command_output.h"
#include "tests/support/temp_dir.h"

namespace dsagent::evals {
namespace {

using testing::CommandOutput;

constexpr const char* kTest =
    "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n";
constexpr const char* kTestPatch =
    "diff --git a/test_more.py b/test_more.py\n"
    "new file mode 100644\n"
    "--- /dev/null\n"
    "+++ b/test_more.py\n"
    "@@ -0,0 +1,5 @@\n"
    "+from calc import add\n"
    "+\n"
    "+\n"
    "+def test_add_negative():\n"
    "+    assert add(-2, -3) == -5\n";

class EvaluateTest : public TempDirTest {
 protected:
  void SetUp() override {
    // A repository with a bug in add() and some unrelated lines around it.
    Write("src/calc.py",
          "# calc\n# helpers\n\n\ndef add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n"
          "    return a - b\n");
    Write("src/test_calc.py", kTest);
    Write("src/.gitignore", "__pycache__/\n");
    Git("init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm base");
    base_ = CommandOutput("git -C '" + (dir_ / "src").string() + "' rev-parse HEAD");
    base_.pop_back();
    task_.instance_id = "t-1";
    task_.base_commit = base_;
    task_.test_patch = kTestPatch;
    task_.test_cmd = "pytest -rA -p no:cacheprovider";
    task_.test_framework = "pytest";
    task_.fail_to_pass = {"test_more.py::test_add_negative", "test_calc.py::test_add"};
    task_.source = {RepoSource::Kind::kGitDir, dir_ / "src", ""};
  }
  void Git(const std::string& args) {
    CommandOutput("cd '" + (dir_ / "src").string() + "' && git " + args + " 2>&1");
  }
  Evaluation Evaluate(const std::string& patch, const std::string& name) {
    return EvaluatePatch(task_, patch, dir_ / "src", dir_ / name, CancelToken());
  }

  std::string base_;
  EvalTask task_;
};

constexpr const char* kFix =
    "diff --git a/calc.py b/calc.py\n"
    "--- a/calc.py\n"
    "+++ b/calc.py\n"
    "@@ -3,4 +3,4 @@\n"
    " \n"
    " \n"
    " def add(a, b):\n"
    "-    return a - b\n"
    "+    return a + b\n";

TEST_F(EvaluateTest, GoldPatchResolvesAndNoPatchDoesNot) {
  const Evaluation fixed = Evaluate(kFix, "fixed");
  EXPECT_EQ(fixed.status, "RESOLVED_FULL") << fixed.error << fixed.test_log;
  EXPECT_TRUE(fixed.resolved);
  EXPECT_EQ(fixed.applied_with, "libgit2");

  const Evaluation none = Evaluate("", "none");
  EXPECT_EQ(none.status, "RESOLVED_NO") << none.error;
  EXPECT_EQ(none.applied_with, "");
  EXPECT_EQ(none.tests.f2p_failure.size(), 2u);
}

TEST_F(EvaluateTest, FuzzyPatchFallsBackLikeUpstreamAndBrokenPatchIsAnError) {
  // Context off by a comment line: libgit2 refuses, `patch --fuzz` applies it.
  const std::string fuzzy =
      "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -4,5 +4,5 @@\n"
      " # not this line\n def add(a, b):\n-    return a - b\n+    return a + b\n \n \n";
  const Evaluation ev = Evaluate(fuzzy, "fuzzy");
  EXPECT_EQ(ev.applied_with, "patch --fuzz=5") << ev.error;
  EXPECT_EQ(ev.status, "RESOLVED_FULL") << ev.error;

  const Evaluation broken = Evaluate("--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n", "bad");
  EXPECT_EQ(broken.status, "error");
  EXPECT_NE(broken.error.find("did not apply"), std::string::npos) << broken.error;
}

TEST_F(EvaluateTest, TestFilesTheModelTouchedAreResetBeforeTheTestPatch) {
  // The "fix" rewrites the existing test to pass and pre-creates the hidden test file.
  const std::string cheat =
      "diff --git a/test_calc.py b/test_calc.py\n--- a/test_calc.py\n+++ b/test_calc.py\n"
      "@@ -2,4 +2,4 @@\n \n \n def test_add():\n-    assert add(2, 3) == 5\n+    assert True\n"
      "diff --git a/test_more.py b/test_more.py\nnew file mode 100644\n--- /dev/null\n"
      "+++ b/test_more.py\n@@ -0,0 +1 @@\n+def test_add_negative(): pass\n";
  task_.test_patch = std::string(kTestPatch) +
                     "diff --git a/test_calc.py b/test_calc.py\n--- a/test_calc.py\n"
                     "+++ b/test_calc.py\n@@ -1,3 +1,3 @@\n-from calc import add\n"
                     "+from calc import add  # noqa\n \n \n";
  const Evaluation ev = Evaluate(cheat, "cheat");
  EXPECT_EQ(ev.status, "RESOLVED_NO") << ev.error << ev.test_log;
  EXPECT_EQ(ev.tests.f2p_failure.size(), 2u);
}

TEST_F(EvaluateTest, WorkspaceDiffIncludesNewFilesAndRoundTrips) {
  auto ws = TaskWorkspace::Create(dir_ / "src", base_, dir_ / "ws");
  ASSERT_TRUE(ws) << ws.error();
  EXPECT_EQ((*ws)->base_commit(), base_);
  ASSERT_TRUE((*ws)->ApplyPatch(kFix));
  Write("ws/notes/new.txt", "hello\n");
  Write("ws/__pycache__/calc.pyc", "ignored");
  auto diff = (*ws)->DiffAgainstBase();
  ASSERT_TRUE(diff) << diff.error();
  EXPECT_NE(diff->find("+    return a + b"), std::string::npos);
  EXPECT_NE(diff->find("b/notes/new.txt"), std::string::npos);
  EXPECT_EQ(diff->find("pycache"), std::string::npos);
  auto paths = PatchedPaths(*diff);
  ASSERT_TRUE(paths);
  EXPECT_EQ(*paths, (std::vector<std::string>{"calc.py", "notes/new.txt"}));

  ASSERT_TRUE((*ws)->ResetToBase());
  auto clean = (*ws)->DiffAgainstBase();
  ASSERT_TRUE(clean);
  EXPECT_EQ(*clean, "");
  ASSERT_TRUE((*ws)->ApplyPatch(*diff));  // the extracted diff applies to the base again
  auto again = (*ws)->DiffAgainstBase();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *diff);
}

TEST_F(EvaluateTest, RepoStoreUnpacksBundlesAndCommitsFileTrees) {
  Git("bundle create -q ../repo.bundle --all");
  RepoStore store(dir_ / "cache");
  auto from_bundle =
      store.Materialize({RepoSource::Kind::kGitBundle, dir_ / "repo.bundle", "bundle:x"});
  ASSERT_TRUE(from_bundle) << from_bundle.error();
  task_.source = {RepoSource::Kind::kGitBundle, dir_ / "repo.bundle", "bundle:x"};
  const Evaluation ev = EvaluatePatch(task_, kFix, *from_bundle, dir_ / "b", CancelToken());
  EXPECT_EQ(ev.status, "RESOLVED_FULL") << ev.error;

  // A plain tree: the import commit is the same for the same files, wherever they are.
  Write("tree1/a.txt", "same\n");
  Write("tree2/a.txt", "same\n");
  auto one = store.Materialize({RepoSource::Kind::kFiles, dir_ / "tree1", "files:1"});
  auto two = store.Materialize({RepoSource::Kind::kFiles, dir_ / "tree2", "files:2"});
  ASSERT_TRUE(one && two);
  auto ws1 = TaskWorkspace::Create(*one, "", dir_ / "w1");
  auto ws2 = TaskWorkspace::Create(*two, "", dir_ / "w2");
  ASSERT_TRUE(ws1 && ws2);
  EXPECT_EQ((*ws1)->base_commit(), (*ws2)->base_commit());
  EXPECT_FALSE(TaskWorkspace::Create(*one, "0123456789abcdef", dir_ / "w3"));
}

TEST_F(EvaluateTest, SwebenchJsonlWithABundleInReposDirRunsThroughTheRunner) {
  std::filesystem::create_directories(dir_ / "repos");
  Git("bundle create -q ../repos/acme__calc.bundle --all");
  Json instance = {{"instance_id", "acme__calc-7"},
                   {"repo", "acme/calc"},
                   {"base_commit", base_},
                   {"problem_statement", "add() subtracts"},
                   {"patch", kFix},
                   {"test_patch", kTestPatch},
                   {"FAIL_TO_PASS", Json(task_.fail_to_pass).dump()},
                   {"PASS_TO_PASS", "[]"},
                   {"version", "0.1"}};
  Write("tasks.jsonl", instance.dump() + "\n");
  Write(
      "repos/specs.json",
      R"({"acme/calc": {"test_cmd": "pytest -rA -p no:cacheprovider", "test_framework": "pytest"}})");
  auto tasks = LoadTasks({.tasks = dir_ / "tasks.jsonl", .repos_dir = dir_ / "repos"});
  ASSERT_TRUE(tasks) << tasks.error();
  for (const char* agent : {"oracle", "noop"}) {
    EvalOptions o;
    o.agent = agent;
    o.out_dir = dir_ / (std::string("run-") + agent);
    auto summary = RunEval(*tasks, o, nullptr, CancelToken());
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ((*summary)["resolved_instances"], std::string(agent) == "oracle" ? 1 : 0)
        << summary->dump(2);
    EXPECT_EQ((*summary)["error_instances"], 0);
  }
}

}  // namespace
}  // namespace dsagent::evals
