#include "evals/compare.h"

#include <gtest/gtest.h>

#include "common/file_io.h"
#include "tests/support/temp_dir.h"

namespace dsagent::evals {
namespace {
namespace fs = std::filesystem;

// Writes an eval run directory: `n` tasks, the first `resolved` resolved, each costing
// `cost_per_task` split over one Flash call and (with pro_calls_per_task) Pro calls.
fs::path WriteRun(const fs::path& dir, const std::string& policy, int n, int resolved,
                  double cost_per_task, int flash_calls, int pro_calls) {
  WriteFileAtomic(dir / "summary.json", Json{{"policy", policy}}.dump());
  for (int i = 0; i < n; ++i) {
    Json tokens = {
        {"input_cache_hit", 300}, {"input_cache_miss", 100}, {"output", 50}, {"reasoning", 0}};
    Json models = Json::object();
    const int calls = flash_calls + pro_calls;
    if (flash_calls > 0) {
      models["deepseek-v4-flash"] = {{"calls", flash_calls},
                                     {"cost_usd", cost_per_task * flash_calls / calls},
                                     {"tokens", tokens}};
    }
    if (pro_calls > 0) {
      models["deepseek-v4-pro"] = {{"calls", pro_calls},
                                   {"cost_usd", cost_per_task * pro_calls / calls},
                                   {"tokens", tokens}};
    }
    const std::string id = "t" + std::to_string(i);
    const Json r = {
        {"instance_id", id},
        {"status", i < resolved ? "RESOLVED_FULL" : "RESOLVED_NO"},
        {"resolved", i < resolved},
        {"agent_run",
         {{"cost_usd", cost_per_task}, {"steps", calls}, {"tokens", tokens}, {"models", models}}},
        {"wall_s", 1.0}};
    WriteFileAtomic(dir / "results" / (id + ".json"), r.dump());
  }
  return dir;
}

TEST(BootstrapIntervalTest, BracketsTheMeanAndIsReproducible) {
  EXPECT_EQ(BootstrapInterval(std::vector<int>(10, 1)), std::make_pair(1.0, 1.0));
  std::vector<int> half(40, 0);
  for (size_t i = 0; i < half.size(); i += 2) half[i] = 1;
  const auto [lo, hi] = BootstrapInterval(half);
  EXPECT_LT(lo, 0.5);
  EXPECT_GT(hi, 0.5);
  EXPECT_GT(lo, 0.2);
  EXPECT_LT(hi, 0.8);
  EXPECT_EQ(BootstrapInterval(half), std::make_pair(lo, hi));
  EXPECT_EQ(BootstrapInterval({}), std::make_pair(0.0, 0.0));
}

TEST(ParetoFrontierTest, KeepsOnlyUndominatedPoints) {
  EXPECT_EQ(ParetoFrontier({{0.01, 0.5}, {0.04, 1.0}, {0.02, 0.75}, {0.03, 0.5}, {0.01, 0.5}}),
            (std::vector<size_t>{0, 1, 2, 4}));  // equal points do not dominate each other
}

TEST(CompareRunsTest, RouteLlmMetricsAgainstTheFlashAndProBaselines) {
  TempDir tmp;
  const auto p = tmp.path();
  const std::vector<fs::path> runs = {
      WriteRun(p / "flash", "always-flash", 20, 10, 0.01, 4, 0),
      WriteRun(p / "pro", "configs/routing/always-pro.yaml", 20, 20, 0.04, 0, 4),
      // Two repeats of a stochastic policy pool into one row: 15 of 20 resolved each.
      WriteRun(p / "mix-1", "cache-aware", 20, 15, 0.02, 3, 1),
      WriteRun(p / "mix-2", "cache-aware", 20, 15, 0.02, 3, 1),
      WriteRun(p / "bad", "bad", 20, 10, 0.03, 4, 0)};
  auto c = CompareRuns(runs);
  ASSERT_TRUE(c) << c.error();
  ASSERT_EQ(c->policies.size(), 4u);
  const PolicyStats& mix = c->policies[2];
  EXPECT_EQ(mix.policy, "cache-aware");
  EXPECT_EQ(mix.runs, 2);
  EXPECT_EQ(mix.samples, 40);
  EXPECT_DOUBLE_EQ(mix.resolved_rate, 0.75);
  EXPECT_DOUBLE_EQ(mix.pro_calls, 0.25);
  EXPECT_NEAR(*mix.cost_per_resolved_usd, 0.02 / 0.75, 1e-12);
  EXPECT_NEAR(mix.cache_hit_rate, 0.75, 1e-12);
  EXPECT_LE(mix.ci_low, 0.75);
  EXPECT_GE(mix.ci_high, 0.75);
  EXPECT_DOUBLE_EQ(*mix.pgr, 0.5);
  EXPECT_DOUBLE_EQ(*c->policies[0].pgr, 0.0);
  EXPECT_DOUBLE_EQ(*c->policies[1].pgr, 1.0);
  // Curve (0, .5) (0, .5) (.25, .75) (1, 1): AUC .8125 -> APGR (.8125 - .5) / .5.
  EXPECT_NEAR(*c->apgr, 0.625, 1e-12);
  EXPECT_NEAR(*c->cpt50, 25.0, 1e-9);
  EXPECT_NEAR(*c->cpt80, 70.0, 1e-9);
  EXPECT_TRUE(c->policies[0].pareto && c->policies[1].pareto && mix.pareto);
  EXPECT_FALSE(c->policies[3].pareto);  // same rate as Flash at a higher cost

  const std::string md = CompareMarkdown(*c);
  EXPECT_NE(md.find("| cache-aware | 2 | 40 | 75.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("APGR 0.625; CPT(50%) 25.0% Pro calls; CPT(80%) 70.0% Pro calls."),
            std::string::npos)
      << md;
  const std::string svg = CompareSvg(*c);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<polyline class=\"frontier\""), std::string::npos);
  EXPECT_NE(svg.find(">always-pro</text>"), std::string::npos);  // labelled by policy name
  EXPECT_EQ(CompareToJson(*c)["policies"].size(), 4u);
}

TEST(CompareRunsTest, WithoutBaselinesThereIsNoPgrAndMissingRunsAreErrors) {
  TempDir tmp;
  auto c = CompareRuns({WriteRun(tmp.path() / "a", "a", 4, 2, 0.01, 1, 0),
                        WriteRun(tmp.path() / "b", "b", 4, 3, 0.02, 1, 1)});
  ASSERT_TRUE(c) << c.error();
  EXPECT_FALSE(c->apgr);
  EXPECT_FALSE(c->policies[0].pgr);
  EXPECT_FALSE(CompareRuns({tmp.path() / "nope"}));
}

}  // namespace
}  // namespace dsagent::evals
