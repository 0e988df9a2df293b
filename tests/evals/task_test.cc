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
