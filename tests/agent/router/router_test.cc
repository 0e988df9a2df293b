#include "agent/router/router.h"

#include <gtest/gtest.h>

#include <chrono>

#include "agent/router/lane_cost.h"

namespace dsagent {
namespace {
using namespace std::chrono;

// Prices per 1M tokens: cheap (hit 0.01, miss 1, out 1) and strong (hit 0.1, miss 10, out 10).
constexpr const char* kCatalog = R"(
models:
  cheap:
    context_tokens: 1000000
    max_output_tokens: 1000
    prices: [{effective: "2026-01-01T00:00:00Z", input_cache_hit: 0.01, input_cache_miss: 1.0, output: 1.0}]
  strong:
    context_tokens: 1000000
    max_output_tokens: 1000
    prices: [{effective: "2026-01-01T00:00:00Z", input_cache_hit: 0.1, input_cache_miss: 10.0, output: 10.0}]
)";
const auto kNow = sys_days{2026y / 6 / 1};

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = ModelCatalog::Parse(kCatalog, "test");
    ASSERT_TRUE(c) << c.error();
    catalog_ = std::make_unique<ModelCatalog>(std::move(*c));
  }
  std::unique_ptr<Router> Parse(const std::string& yaml) {
    auto r = Router::Parse(yaml, "test.yaml", *catalog_);
    EXPECT_TRUE(r) << (r ? "" : r.error());
    return r ? std::move(*r) : nullptr;
  }
  std::unique_ptr<ModelCatalog> catalog_;
};

constexpr const char* kLanes = R"(
lanes:
  flash: {model: cheap, thinking: true, effort: high}
  pro: {model: strong, thinking: true, effort: max}
)";

TEST_F(RouterTest, LaneCostChargesUnseenTokensAtTheMissPrice) {
  StepFeatures f;
  f.context_tokens = 1'000'000;
  f.unseen_tokens = {{"cheap", 100'000}};
  f.mean_output_tokens = 0;
  const auto cheap = EstimateLaneCost(*catalog_, "cheap", f, 1, 0, kNow);
  EXPECT_EQ(cheap.unseen_tokens, 100'000);
  EXPECT_NEAR(cheap.next_call_usd, 0.1 * 1.0 + 0.9 * 0.01, 1e-12);
  const auto strong = EstimateLaneCost(*catalog_, "strong", f, 1, 0, kNow);  // never called
  EXPECT_EQ(strong.unseen_tokens, 1'000'000);
  EXPECT_NEAR(strong.next_call_usd, 10.0, 1e-12);
  EXPECT_FALSE(EstimateLaneCost(*catalog_, "unknown", f, 1, 0, kNow).priced);
}

TEST_F(RouterTest, DecisionRecordNamesPolicyLaneFeaturesAndAlternatives) {
  auto r = Parse(std::string("policy: always-pro\n") + kLanes);
  StepFeatures f;
  f.step = 1;
  f.context_tokens = 5000;
  const RouteDecision d = r->Decide(f, kNow);
  EXPECT_EQ(d.lane.model, "strong");
  EXPECT_EQ(d.lane.effort, "max");
  EXPECT_EQ(d.record["policy"], "test.yaml");
  EXPECT_EQ(d.record["features"]["context_tokens"], 5000);
  ASSERT_EQ(d.record["alternatives"].size(), 2u);
  EXPECT_EQ(d.record["alternatives"][0]["lane"]["model"], "cheap");
  EXPECT_EQ(d.record["estimated_unseen_tokens"], 5000);
}

TEST_F(RouterTest, CacheAwareStaysWhenSwitchingWouldNotPayOff) {
  // Interleave wants to go back to the cheap lane, but it has not seen a huge context: paying its
  // miss costs more than staying on the strong lane for the horizon.
  auto r = Parse(std::string("policy: interleave\nparams: {pattern: PF}\n") + kLanes +
                 "cache_aware: {enabled: true, horizon_steps: 1, stickiness: 0}\n");
  StepFeatures f;
  f.step = 1;
  f.context_tokens = 10'000'000;
  EXPECT_EQ(r->Decide(f, kNow).lane.model, "strong");
  f.step = 2;
  f.unseen_tokens = {{"strong", 0}};  // cheap has seen nothing; strong has it all cached
  const RouteDecision stay = r->Decide(f, kNow);
  EXPECT_EQ(stay.lane.model, "strong");  // cheap: 10M x $1 miss > strong: 10M x $0.1 hit
  EXPECT_NE(stay.reason.find("cache-aware"), std::string::npos);
  // When the cheap lane has the context cached too, switching pays off.
  f.step = 4;
  f.unseen_tokens = {{"strong", 0}, {"cheap", 0}};
  EXPECT_EQ(r->Decide(f, kNow).lane.model, "cheap");
}

TEST_F(RouterTest, CacheAwareNeverVetoesAnEscalation) {
  auto r = Parse(std::string("policy: escalate-on-failure\nparams: {failures: 1}\n") + kLanes +
                 "cache_aware: {enabled: true}\n");
  StepFeatures f;
  f.step = f.turn_step = 1;
  f.context_tokens = 10'000'000;
  EXPECT_EQ(r->Decide(f, kNow).lane.model, "cheap");
  f.step = f.turn_step = 2;
  f.failures_since_success = 1;
  f.unseen_tokens = {{"cheap", 0}};
  EXPECT_EQ(r->Decide(f, kNow).lane.model, "strong");
}

TEST_F(RouterTest, MechanicalStepsTurnThinkingOffOnFlashWhenConfigured) {
  auto r =
      Parse(std::string("policy: always-flash\n") + kLanes + "mechanical_thinking_off: true\n");
  StepFeatures f;
  f.step = 1;
  EXPECT_TRUE(r->Decide(f, kNow).lane.thinking);
  f.step = 2;
  f.last_step_mechanical = true;
  EXPECT_FALSE(r->Decide(f, kNow).lane.thinking);
}

TEST_F(RouterTest, BuiltInPoliciesAllLoad) {
  const auto names = BuiltInRoutingPolicies();
  for (const char* expected : {"always-flash", "always-pro", "budget", "cache-aware",
                               "escalate-on-failure", "interleave", "pro-first", "random"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  for (const auto& n : names) {
    auto r = Router::Load(n, ModelCatalog::BuiltIn());
    EXPECT_TRUE(r) << n << ": " << (r ? "" : r.error());
  }
}

TEST_F(RouterTest, InvalidDocumentsAreClearErrors) {
  EXPECT_FALSE(Router::Parse("params: {}", "x.yaml", *catalog_));
  auto typo = Router::Parse("policy: always-flash\nlane: {}\n", "x.yaml", *catalog_);
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().find("unknown key 'lane'"), std::string::npos);
  auto effort = Router::Parse("policy: always-flash\nlanes: {flash: {model: cheap, effort: low}}\n",
                              "x.yaml", *catalog_);
  ASSERT_FALSE(effort);
  EXPECT_NE(effort.error().find("effort"), std::string::npos);
  // Values of the wrong type are errors naming the problem, not exceptions (found by fuzz_config).
  auto null_lanes = Router::Parse("policy: always-flash\nlanes\n", "x.yaml", *catalog_);
  auto empty_lanes = Router::Parse("policy: always-flash\nlanes:\n", "x.yaml", *catalog_);
  ASSERT_FALSE(empty_lanes);
  EXPECT_NE(empty_lanes.error().find("lanes must be a mapping"), std::string::npos)
      << empty_lanes.error();
  EXPECT_FALSE(null_lanes);
  auto thinking = Router::Parse(
      "policy: always-flash\nlanes: {flash: {model: m, thinking: [1]}}\n", "x.yaml", *catalog_);
  ASSERT_FALSE(thinking);
  EXPECT_NE(thinking.error().find("wrong type"), std::string::npos) << thinking.error();
  auto missing = Router::Load("/nonexistent/policy.yaml", *catalog_);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("cache-aware"), std::string::npos);
}

}  // namespace
}  // namespace dsagent
