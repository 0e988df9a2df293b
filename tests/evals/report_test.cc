#include "evals/report.h"

#include <gtest/gtest.h>

#include "evals/runner.h"

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

TEST(BuildSummaryTest, PolyglotRunsGetATablePerLanguage) {
  auto with = [](Json r, const std::string& repo, Json tries) {
    r["repo"] = repo;
    r["tries"] = std::move(tries);
    return r;
  };
  const std::vector<Json> results = {
      with(Result("polyglot__go-octal", "RESOLVED_FULL", true, 0.25, Json::object()),
           "polyglot/go", {false, true}),
      with(Result("polyglot__go-matrix", "RESOLVED_NO", false, 0.5, Json::object()),
           "polyglot/go", {false, false}),
      with(Result("polyglot__rust-luhn", "RESOLVED_FULL", true, 0.125, Json::object()),
           "polyglot/rust", {true})};
  const Json s = BuildSummary(results, {"polyglot__rust-wordy"}, {"dsagent", "", "dsagent"});
  const Json& go = s["by_language"]["go"];
  EXPECT_EQ(go["total"], 2);
  EXPECT_EQ(go["resolved"], 1);
  EXPECT_EQ(go["pass_rate_1"], 0.0);
  EXPECT_EQ(go["pass_rate_2"], 0.5);
  EXPECT_EQ(go["cost_usd"], 0.75);
  const Json& rust = s["by_language"]["rust"];
  EXPECT_EQ(rust["total"], 2);  // the unfinished exercise counts in its language's total
  EXPECT_EQ(rust["resolved_rate"], 0.5);
  const std::string table = LanguageTable(s);
  EXPECT_NE(table.find("| go | 1 / 2 (50.0%) | 0.0% / 50.0% | 0 | $0.7500 |"), std::string::npos)
      << table;
  EXPECT_NE(table.find("| **all** | 2 / 4 |"), std::string::npos) << table;
  EXPECT_NE(ReportMarkdown(s, results).find("## Languages"), std::string::npos);
  // Other task sets have no such table.
  const Json plain = BuildSummary({Result("a__b-1", "RESOLVED_NO", false, 0, Json::object())}, {},
                                  {"noop", "", "noop"});
  EXPECT_FALSE(plain.contains("by_language"));
  EXPECT_EQ(LanguageTable(plain), "");
}

TEST(StatusLineTextTest, CountsCostElapsedAndEta) {
  // 12 of 225 done in 182 s: the other 213 at 182/12 s each -> 3230.5 s.
  EXPECT_EQ(StatusLineText({12, 225, 10, 0.1234}, 182),
            "[12/225] resolved 10 (83.3%) | $0.1234 | 3m02s | ETA 53m51s");
  EXPECT_EQ(StatusLineText({0, 5, 0, 0}, 3), "[0/5] resolved 0 (0.0%) | $0.0000 | 0m03s | ETA --");
}

}  // namespace
}  // namespace dsagent::evals
