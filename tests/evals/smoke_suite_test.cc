// Integration: the shipped smoke suite through the real runner and grading path. The oracle (gold
// patches) must resolve every task and noop none — this is what validates a task set.
#include <gtest/gtest.h>

#include <fstream>

#include "common/file_io.h"
#include "evals/report.h"
#include "evals/runner.h"
#include "tests/support/temp_dir.h"

namespace dsagent::evals {
namespace {
namespace fs = std::filesystem;

std::vector<EvalTask> SmokeTasks() {
  auto tasks = LoadTasks({.tasks = fs::path(DSAGENT_SOURCE_DIR) / "evals/suites/smoke"});
  EXPECT_TRUE(tasks) << tasks.error();
  return tasks ? *tasks : std::vector<EvalTask>{};
}

Json RunSuite(const std::vector<EvalTask>& tasks, const std::string& agent, const fs::path& out,
              bool resume, std::vector<std::string>* lines) {
  EvalOptions o;
  o.agent = agent;
  o.jobs = 2;
  o.out_dir = out;
  o.resume = resume;
  auto summary = RunEval(
      tasks, o, [lines](const std::string& l) { lines->push_back(l); }, CancelToken());
  EXPECT_TRUE(summary) << summary.error().message;
  return summary ? *summary : Json();
}

TEST(SmokeSuiteTest, HasAtLeastTwelveTasksInBothLanguages) {
  const auto tasks = SmokeTasks();
  EXPECT_GE(tasks.size(), 12u);
  int py = 0, cpp = 0;
  for (const auto& t : tasks) {
    EXPECT_FALSE(t.fail_to_pass.empty()) << t.instance_id;
    EXPECT_FALSE(t.pass_to_pass.empty()) << t.instance_id;
    EXPECT_FALSE(t.patch.empty()) << t.instance_id;
    py += t.test_framework == "pytest";
    cpp += t.test_framework == "ctest";
  }
  EXPECT_GE(py, 5);
  EXPECT_GE(cpp, 5);
}

TEST(SmokeSuiteTest, OracleResolvesEveryTaskAndWritesSwebenchOutputs) {
  TempDir out;
  const auto tasks = SmokeTasks();
  std::vector<std::string> lines;
  const Json s = RunSuite(tasks, "oracle", out.path(), false, &lines);
  EXPECT_EQ(s["resolved_instances"], tasks.size()) << s.dump(2);
  EXPECT_EQ(s["error_instances"], 0);
  EXPECT_EQ(s["resolved_rate"], 1.0);
  EXPECT_EQ(s["schema_version"], 2);
  EXPECT_EQ(lines.size(), tasks.size());  // one progress line per task

  // preds.jsonl: one SWE-bench prediction per task whose patch is the gold fix's effect.
  std::ifstream preds(out.path() / "preds.jsonl");
  std::string line;
  size_t n = 0;
  for (; std::getline(preds, line); ++n) {
    const Json p = Json::parse(line);
    EXPECT_EQ(p["model_name_or_path"], "gold");
    EXPECT_NE(p["model_patch"].get<std::string>().find("diff --git"), std::string::npos);
  }
  EXPECT_EQ(n, tasks.size());
  auto result = ReadFileToString(ResultPath(out.path(), tasks[0].instance_id));
  ASSERT_TRUE(result);
  const Json r = Json::parse(*result);
  EXPECT_EQ(r["status"], "RESOLVED_FULL");
  EXPECT_EQ(r["tests_status"]["FAIL_TO_PASS"]["success"], Json(tasks[0].fail_to_pass));
  auto report = ReadFileToString(out.path() / "report.md");
  ASSERT_TRUE(report);
  EXPECT_NE(report->find("| resolved | " + std::to_string(tasks.size())), std::string::npos);
  EXPECT_FALSE(fs::exists(out.path() / "work" / tasks[0].instance_id));  // clones removed
}

TEST(SmokeSuiteTest, NoopResolvesNothingAndResumeSkipsFinishedTasks) {
  TempDir out;
  const auto tasks = SmokeTasks();
  ASSERT_GE(tasks.size(), 4u);
  std::vector<std::string> first, second;
  const std::vector<EvalTask> some(tasks.begin(), tasks.begin() + 2);
  RunSuite(some, "noop", out.path(), false, &first);
  const Json s = RunSuite(tasks, "noop", out.path(), true, &second);
  EXPECT_EQ(s["resolved_instances"], 0) << s.dump(2);
  EXPECT_EQ(s["completed_instances"], tasks.size());
  EXPECT_EQ(s["empty_patch_instances"], tasks.size());
  // The second run ran only the remaining tasks: a resume line plus one line per task.
  EXPECT_EQ(second.size(), tasks.size() - 2 + 1);
  EXPECT_NE(second[0].find("2 task(s) already finished"), std::string::npos) << second[0];
}

}  // namespace
}  // namespace dsagent::evals
