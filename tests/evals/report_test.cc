#include "evals/report.h"

#include <gtest/gtest.h>

namespace dsagent::evals {
namespace {

Json Result(const std::string& id, const std::string& status, bool resolved, double cost,
            Json models) {
  Json tokens = {{"input_cache_hit", 0}, {"input_cache_miss", 0}, {"output", 0}, {"reasoning", 0}};
  for (const auto& [m, v] : models.items()) {
    for (const char* k : {"input_cache_hit", "input_cache_miss", "output", "reasoning"}) {
      tokens[k] = tokens[k].get<int64_t>() + v["tokens"][k].get<int64_t>();
    }
  }
  return {{"instance_id", id},
          {"status", status},
          {"resolved", resolved},
          {"empty_patch", status == "error"},
          {"tests_status",
           {{"FAIL_TO_PASS", {{"success", Json::array()}, {"failure", Json::array()}}},
            {"PASS_TO_PASS", {{"success", Json::array()}, {"failure", Json::array()}}}}},
          {"agent_run",
           {{"cost_usd", cost},
            {"steps", 3},
            {"tokens", tokens},
            {"models", models},
            {"cache_hit_rate", 0.0},
            {"pro_share", ProShare(models)}}},
          {"wall_s", 1.0}};
}

Json Model(int calls, int64_t hit, int64_t miss, int64_t out, double cost) {
  return {
      {"calls", calls},
      {"cost_usd", cost},
      {"tokens",
       {{"input_cache_hit", hit}, {"input_cache_miss", miss}, {"output", out}, {"reasoning", 0}}}};
}

TEST(ProShareTest, SharesByCallsTokensAndDollars) {
  const Json models = {{"deepseek-v4-flash", Model(3, 600, 200, 200, 0.25)},
                       {"deepseek-v4-pro", Model(1, 0, 900, 100, 0.75)}};
  const Json share = ProShare(models);
  EXPECT_DOUBLE_EQ(share["calls"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(share["tokens"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(share["cost"].get<double>(), 0.75);
  EXPECT_EQ(ProShare(Json::object())["calls"], 0.0);
}

TEST(BuildSummaryTest, SwebenchCountsIdListsAndCostFields) {
  const Json flash = {{"deepseek-v4-flash", Model(2, 300, 100, 50, 0.1)}};
  const Json pro = {{"deepseek-v4-pro", Model(1, 0, 100, 50, 0.3)}};
  const std::vector<Json> results = {Result("a", "RESOLVED_FULL", true, 0.1, flash),
                                     Result("b", "RESOLVED_PARTIAL", false, 0.3, pro),
                                     Result("c", "error", false, 0, Json::object())};
  const Json s = BuildSummary(results, {"d"}, {"dsagent", "cache-aware", "dsagent+cache-aware"});
  EXPECT_EQ(s["total_instances"], 4);
  EXPECT_EQ(s["submitted_instances"], 3);
  EXPECT_EQ(s["completed_instances"], 2);
  EXPECT_EQ(s["resolved_ids"], Json::array({"a"}));
  EXPECT_EQ(s["unresolved_ids"], Json::array({"b"}));
  EXPECT_EQ(s["partial_ids"], Json::array({"b"}));
  EXPECT_EQ(s["error_ids"], Json::array({"c"}));
  EXPECT_EQ(s["incomplete_ids"], Json::array({"d"}));
  EXPECT_DOUBLE_EQ(s["resolved_rate"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(s["total_cost_usd"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(s["cost_per_resolved_usd"].get<double>(), 0.4);
  EXPECT_EQ(s["tokens"]["input_cache_miss"], 200);
  EXPECT_DOUBLE_EQ(s["cache_hit_rate"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(s["pro_share"]["calls"].get<double>(), 1.0 / 3);
  EXPECT_EQ(s["models"]["deepseek-v4-pro"]["calls"], 1);

  const std::string md = ReportMarkdown(s, results);
  EXPECT_NE(md.find("| resolved | 1 / 4 (25.0%) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| cache-hit rate | 60.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| b | RESOLVED_PARTIAL |"), std::string::npos) << md;

  const Json none = BuildSummary({}, {}, {});
  EXPECT_TRUE(none["cost_per_resolved_usd"].is_null());
}

}  // namespace
}  // namespace dsagent::evals
