// Integration: the shipped smoke suite through the real runner and grading path. The oracle (gold
// patches) must resolve every task and noop none — this is what validates a task set.
#include <gtest/gtest.h>

#include <fstream>

#include "common/file_io.h"
#include "evals/compare.h"
#include "evals/merge.h"
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
              bool resume, std::vector<std::string>* lines, int shard = 1, int shards = 1) {
  EvalOptions o;
  o.agent = agent;
  o.shard_index = shard;
  o.shard_count = shards;
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

  // The same run in three shards (as on three machines), merged, equals the unsharded run.
  std::vector<fs::path> shard_dirs;
  size_t sharded_tasks = 0;
  for (int k = 1; k <= 3; ++k) {
    shard_dirs.push_back(out.path() / ("shard-" + std::to_string(k)));
    std::vector<std::string> shard_lines;
    const Json part = RunSuite(tasks, "oracle", shard_dirs.back(), false, &shard_lines, k, 3);
    EXPECT_EQ(part["total_instances"], ShardTasks(tasks, k, 3).size());
    sharded_tasks += part["total_instances"].get<size_t>();
  }
  EXPECT_EQ(sharded_tasks, tasks.size());
  auto merged = MergeRuns(out.path() / "merged", shard_dirs);
  ASSERT_TRUE(merged) << merged.error();
  for (const char* key : {"total_instances", "submitted_ids", "completed_ids", "resolved_ids",
                          "unresolved_ids", "empty_patch_ids", "error_ids", "incomplete_ids",
                          "resolved_rate", "total_cost_usd", "model_name_or_path", "tokens"}) {
    EXPECT_EQ((*merged)[key], s[key]) << key;
  }
  auto merged_preds = ReadFileToString(out.path() / "merged/preds.jsonl");
  auto preds_text = ReadFileToString(out.path() / "preds.jsonl");
  ASSERT_TRUE(merged_preds && preds_text);
  EXPECT_EQ(*merged_preds, *preds_text);  // same predictions, in the unsharded order
  for (const EvalTask& t : tasks) {
    auto one = ReadFileToString(ResultPath(out.path() / "merged", t.instance_id));
    auto ref = ReadFileToString(ResultPath(out.path(), t.instance_id));
    ASSERT_TRUE(one && ref) << t.instance_id;
    EXPECT_EQ(Json::parse(*one)["tests_status"], Json::parse(*ref)["tests_status"]);
    EXPECT_TRUE(fs::exists(out.path() / "merged/logs" / t.instance_id / "test_output.txt"));
  }
  // route compare reads a merged run like any other.
  auto compared = CompareRuns({out.path() / "merged"});
  ASSERT_TRUE(compared) << compared.error();
  ASSERT_EQ(compared->policies.size(), 1u);
  EXPECT_EQ(compared->policies[0].resolved, static_cast<int>(tasks.size()));
}

TEST(SmokeSuiteTest, MergeRefusesIncompleteOrMismatchedShards) {
  const auto all = SmokeTasks();
  ASSERT_GE(all.size(), 4u);
  const std::vector<EvalTask> tasks(all.begin(), all.begin() + 2);  // two quick shards
  TempDir out;
  std::vector<std::string> lines;
  RunSuite(tasks, "noop", out.path() / "a1", false, &lines, 1, 2);
  RunSuite(tasks, "noop", out.path() / "a2", false, &lines, 2, 2);
  RunSuite(tasks, "oracle", out.path() / "b2", false, &lines, 2, 2);
  const std::vector<EvalTask> other(all.begin() + 1, all.begin() + 3);
  RunSuite(other, "noop", out.path() / "c2", false, &lines, 2, 2);

  auto refused = [&](const std::vector<std::string>& dirs, const std::string& why) {
    std::vector<fs::path> paths;
    for (const auto& d : dirs) paths.push_back(out.path() / d);
    auto m = MergeRuns(out.path() / "merged", paths);
    ASSERT_FALSE(m) << "merged " << dirs.size() << " dirs";
    EXPECT_NE(m.error().find(why), std::string::npos) << m.error();
  };
  refused({"a1"}, "missing shard(s) 2 of 2");
  refused({"a1", "a1"}, "shard 1 twice");
  refused({"a1", "b2"}, "different settings");
  refused({"a1", "c2"}, "different task sets");
  refused({"a1", "nowhere"}, "has no run.json");
  auto ok = MergeRuns(out.path() / "merged", {out.path() / "a2", out.path() / "a1"});
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ((*ok)["submitted_ids"],
            Json::array({tasks[0].instance_id, tasks[1].instance_id}));  // load order

  // --resume keeps results only from a run with the same settings.
  EvalOptions o;
  o.agent = "oracle";
  o.out_dir = out.path() / "a1";
  o.resume = true;
  auto resumed = RunEval(tasks, o, nullptr, CancelToken());
  ASSERT_FALSE(resumed);
  EXPECT_NE(resumed.error().message.find("other settings"), std::string::npos);
}

TEST(SmokeSuiteTest, ShardsAreARoundRobinSliceOfTheLoadOrder) {
  const auto tasks = SmokeTasks();
  ASSERT_GE(tasks.size(), 7u);
  const auto second = ShardTasks(tasks, 2, 3);
  ASSERT_GE(second.size(), 2u);
  EXPECT_EQ(second[0].instance_id, tasks[1].instance_id);
  EXPECT_EQ(second[1].instance_id, tasks[4].instance_id);
  EXPECT_TRUE(ShardTasks(tasks, 4, 3).empty());
  EXPECT_TRUE(ShardTasks(tasks, 0, 3).empty());
  EXPECT_EQ(ShardTasks(tasks, 1, 1).size(), tasks.size());
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
