#include "evals/task.h"

#include <gtest/gtest.h>

#include "tests/support/command_output.h"
#include "tests/support/temp_dir.h"

namespace dsagent::evals {
namespace {

using testing::CommandOutput;

Json Instance(const std::string& id, const std::string& repo) {
  return {{"instance_id", id},
          {"repo", repo},
          {"base_commit", "abc123"},
          {"problem_statement", "fix it"},
          {"patch", ""},
          {"test_patch", ""},
          {"version", "1.0"},
          {"FAIL_TO_PASS", "[\"t.py::a\", \"t.py::b\"]"},
          {"PASS_TO_PASS", "[]"}};
}

TEST(TaskFromJsonTest, ReadsSwebenchTestListsStoredAsJsonStrings) {
  auto t = TaskFromJson(Instance("o__r-1", "o/r"));
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->fail_to_pass, (std::vector<std::string>{"t.py::a", "t.py::b"}));
  EXPECT_TRUE(t->pass_to_pass.empty());
  Json as_list = Instance("o__r-2", "o/r");
  as_list["PASS_TO_PASS"] = Json::array({"t.py::c"});
  auto t2 = TaskFromJson(as_list);
  ASSERT_TRUE(t2);
  EXPECT_EQ(t2->pass_to_pass, std::vector<std::string>{"t.py::c"});
}

TEST(TaskFromJsonTest, RejectsMalformedTasks) {
  Json bad = Instance("x", "o/r");
  bad["FAIL_TO_PASS"] = "[not json";
  EXPECT_FALSE(TaskFromJson(bad));
  Json no_id = Instance("", "o/r");
  EXPECT_FALSE(TaskFromJson(no_id));
  for (const char* id : {"../evil", "..", ".", "a b", "x/y"}) {
    EXPECT_FALSE(TaskFromJson(Instance(id, "o/r"))) << id;
  }
  EXPECT_TRUE(TaskFromJson(Instance("django__django-11099.v2+fix", "o/r")));
}

class LoadTasksTest : public TempDirTest {};

TEST_F(LoadTasksTest, FindsClonesAndBundlesInReposDirAndAppliesRepoSpecs) {
  CommandOutput("git init -q '" + (dir_ / "repos/acme__lib").string() + "'");
  Write("repos/acme__tool.bundle", "placeholder");
  Write("repos/specs.json",
        R"({"acme/lib": {"test_cmd": "pytest -rA", "test_framework": "pytest",
            "2.0": {"test_cmd": "pytest -rA tests/v2"}},
            "acme/tool": {"test_cmd": "ctest", "test_framework": "ctest"}})");
  Json a = Instance("acme__lib-1", "acme/lib");
  Json b = Instance("acme__lib-2", "acme/lib");
  b["version"] = "2.0";
  Json c = Instance("acme__tool-3", "acme/tool");
  c["test_cmd"] = "make check";  // the task's own command wins over the spec
  Write("tasks.jsonl", a.dump() + "\n\n" + b.dump() + "\n" + c.dump() + "\n");

  auto tasks = LoadTasks({.tasks = dir_ / "tasks.jsonl", .repos_dir = dir_ / "repos"});
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_EQ(tasks->size(), 3u);
  EXPECT_EQ((*tasks)[0].source.kind, RepoSource::Kind::kGitDir);
  EXPECT_EQ((*tasks)[0].source.path, dir_ / "repos/acme__lib");
  EXPECT_EQ((*tasks)[0].test_cmd, "pytest -rA");
  EXPECT_EQ((*tasks)[0].test_framework, "pytest");
  EXPECT_EQ((*tasks)[1].test_cmd, "pytest -rA tests/v2");
  EXPECT_EQ((*tasks)[2].source.kind, RepoSource::Kind::kGitBundle);
  EXPECT_EQ((*tasks)[2].test_cmd, "make check");
  EXPECT_EQ((*tasks)[2].test_framework, "ctest");
}

TEST_F(LoadTasksTest, PublishedSwebenchRowsLoadAsTheyAreWithTheHarnessParser) {
  // A SWE-bench Verified row with every published field (values shortened), the test lists as
  // JSON strings; a Lite row of sympy with a numeric-looking version.
  CommandOutput("git init -q '" + (dir_ / "repos/django__django").string() + "'");
  CommandOutput("git init -q '" + (dir_ / "repos/sympy__sympy").string() + "'");
  const Json verified = {
      {"repo", "django/django"},
      {"instance_id", "django__django-11099"},
      {"base_commit", "d26b2424437dabeeca94d7900b37d2df4410da0c"},
      {"patch", "diff --git a/django/contrib/auth/validators.py b/django/contrib/auth/validators.py\n"},
      {"test_patch", "diff --git a/tests/auth_tests/test_validators.py b/tests/auth_tests/test_validators.py\n"},
      {"problem_statement", "UsernameValidator allows trailing newline in usernames"},
      {"hints_text", ""},
      {"created_at", "2019-03-20T03:46:18Z"},
      {"version", "3.0"},
      {"FAIL_TO_PASS",
       "[\"test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests)\"]"},
      {"PASS_TO_PASS", "[\"test_help_text (auth_tests.test_validators.MinimumLengthValidatorTest)\"]"},
      {"environment_setup_commit", "419a78300f7cd27611196e1e464d50fd0385ff27"},
      {"difficulty", "<15 min fix"}};
  Json lite = verified;
  lite["repo"] = "sympy/sympy";
  lite["instance_id"] = "sympy__sympy-20590";
  lite["version"] = 1.7;
  lite["FAIL_TO_PASS"] = "[\"test_immutable\"]";
  lite["PASS_TO_PASS"] = "[]";
  lite.erase("difficulty");
  Write("repos/specs.json", R"({"django/django": {"test_cmd": "./tests/runtests.py -v 2"},
                                "sympy/sympy": {"test_cmd": "bin/test -C --verbose"}})");
  Write("verified.jsonl", verified.dump() + "\n" + lite.dump() + "\n");
  auto tasks = LoadTasks({.tasks = dir_ / "verified.jsonl", .repos_dir = dir_ / "repos"});
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_EQ(tasks->size(), 2u);
  const EvalTask& d = (*tasks)[0];
  EXPECT_EQ(d.fail_to_pass, (std::vector<std::string>{
                                "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests)"}));
  EXPECT_EQ(d.pass_to_pass.size(), 1u);
  EXPECT_EQ(d.version, "3.0");
  EXPECT_EQ(d.test_framework, "swebench:django");  // the official harness's parser for Django
  EXPECT_EQ(d.raw, verified);                      // every field kept as read
  EXPECT_EQ(d.raw["environment_setup_commit"], "419a78300f7cd27611196e1e464d50fd0385ff27");
  const EvalTask& y = (*tasks)[1];
  EXPECT_EQ(y.version, "1.7");
  EXPECT_EQ(y.test_framework, "swebench:sympy");
  EXPECT_EQ(y.fail_to_pass, std::vector<std::string>{"test_immutable"});
}

TEST_F(LoadTasksTest, ExplainsWhatIsMissing) {
  Write("tasks.jsonl", Instance("acme__lib-1", "acme/lib").dump() + "\n");
  auto no_repo = LoadTasks({.tasks = dir_ / "tasks.jsonl", .repos_dir = dir_});
  ASSERT_FALSE(no_repo);
  EXPECT_NE(no_repo.error().find("acme__lib"), std::string::npos) << no_repo.error();

  CommandOutput("git init -q '" + (dir_ / "acme__lib").string() + "'");
  auto no_cmd = LoadTasks({.tasks = dir_ / "tasks.jsonl", .repos_dir = dir_});
  ASSERT_FALSE(no_cmd);
  EXPECT_NE(no_cmd.error().find("test_cmd"), std::string::npos) << no_cmd.error();

  Json dup_task = Instance("x", "acme/lib");
  dup_task["test_cmd"] = "true";
  Write("dup.jsonl", dup_task.dump() + "\n" + dup_task.dump());
  auto dup = LoadTasks({.tasks = dir_ / "dup.jsonl", .repos_dir = dir_});
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().find("duplicate"), std::string::npos);
}

TEST_F(LoadTasksTest, SuiteDirectoriesHoldOneTaskEachWithItsRepository) {
  Json t = Instance("s__two", "suite/two");
  t["base_commit"] = "";
  t["test_cmd"] = "true";
  Write("suite/b-two/task.json", t.dump());
  Write("suite/b-two/repo/main.py", "x = 1\n");
  t["instance_id"] = "s__one";
  t["base_commit"] = "abc123";  // required for a bundle (optional only for a repo/ tree)
  Write("suite/a-one/task.json", t.dump());
  Write("suite/a-one/repo.bundle", "placeholder");
  Write("suite/notes.txt", "not a task");

  auto tasks = LoadTasks({.tasks = dir_ / "suite"});
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].instance_id, "s__one");  // directory order
  EXPECT_EQ((*tasks)[0].source.kind, RepoSource::Kind::kGitBundle);
  EXPECT_EQ((*tasks)[1].source.kind, RepoSource::Kind::kFiles);
  EXPECT_EQ((*tasks)[1].source.path, dir_ / "suite/b-two/repo");

  auto single = LoadTasks({.tasks = dir_ / "suite/b-two"});
  ASSERT_TRUE(single) << single.error();
  EXPECT_EQ(single->size(), 1u);
  EXPECT_FALSE(LoadTasks({.tasks = dir_ / "suite", .format = "polyglot"}));
}

}  // namespace
}  // namespace dsagent::evals
