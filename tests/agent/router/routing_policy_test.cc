#include "agent/router/routing_policy.h"

#include <gtest/gtest.h>

#include <string>

namespace dsagent {
namespace {

std::unique_ptr<RoutingPolicy> Make(const std::string& kind, const Json& params = Json::object()) {
  auto p = MakeRoutingPolicy(kind, params);
  EXPECT_TRUE(p) << (p ? "" : p.error());
  return p ? std::move(*p) : nullptr;
}

StepFeatures Step(int step, int turn_step = 0, int failures = 0, bool verify_passed = false) {
  StepFeatures f;
  f.step = step;
  f.turn_step = turn_step == 0 ? step : turn_step;
  f.failures_since_success = failures;
  f.last_verify_passed = verify_passed;
  return f;
}

// The lane sequence ("F"/"P") a policy produces over `steps`.
std::string Sequence(RoutingPolicy& p, const std::vector<StepFeatures>& steps) {
  std::string out;
  for (const auto& f : steps) out += p.Propose(f).pro ? 'P' : 'F';
  return out;
}

std::vector<StepFeatures> Plain(int n) {
  std::vector<StepFeatures> v;
  for (int i = 1; i <= n; ++i) v.push_back(Step(i));
  return v;
}

TEST(RoutingPolicyTest, AlwaysPolicies) {
  EXPECT_EQ(Sequence(*Make("always-flash"), Plain(4)), "FFFF");
  EXPECT_EQ(Sequence(*Make("always-pro"), Plain(4)), "PPPP");
}

TEST(RoutingPolicyTest, RandomIsReproducibleBySeedAndHonoursP) {
  const Json params = {{"p", 0.3}, {"seed", 42}};
  const std::string a = Sequence(*Make("random", params), Plain(400));
  const std::string b = Sequence(*Make("random", params), Plain(400));
  EXPECT_EQ(a, b);
  const auto pro = std::count(a.begin(), a.end(), 'P');
  EXPECT_GT(pro, 80);  // ~120 expected
  EXPECT_LT(pro, 160);
  EXPECT_NE(a, Sequence(*Make("random", {{"p", 0.3}, {"seed", 43}}), Plain(400)));
  EXPECT_EQ(Sequence(*Make("random", {{"p", 0.0}}), Plain(20)), std::string(20, 'F'));
  EXPECT_EQ(Sequence(*Make("random", {{"p", 1.0}}), Plain(20)), std::string(20, 'P'));
}

TEST(RoutingPolicyTest, InterleaveCyclesThePattern) {
  EXPECT_EQ(Sequence(*Make("interleave", {{"pattern", "FFP"}}), Plain(7)), "FFPFFPF");
  EXPECT_FALSE(MakeRoutingPolicy("interleave", {{"pattern", "FXP"}}));
  EXPECT_FALSE(MakeRoutingPolicy("interleave", {{"pattern", ""}}));
}

TEST(RoutingPolicyTest, ProFirstPlansEachTurnOnPro) {
  auto p = Make("pro-first", {{"k", 2}});
  // Two turns: steps 1-4 (turn steps 1-4), then a new turn at step 5.
  std::vector<StepFeatures> steps = {Step(1, 1), Step(2, 2), Step(3, 3), Step(4, 4),
                                     Step(5, 1), Step(6, 2), Step(7, 3)};
  EXPECT_EQ(Sequence(*p, steps), "PPFFPPF");
}

TEST(RoutingPolicyTest, EscalateOnFailureEscalatesAndDeEscalatesOnSuccess) {
  auto p = Make("escalate-on-failure", {{"failures", 2}});
  std::vector<StepFeatures> steps = {
      Step(1, 1, 0), Step(2, 2, 1),       Step(3, 3, 2),  // second failure -> Pro
      Step(4, 4, 3), Step(5, 5, 0, true),                 // still failing; then a command passed
      Step(6, 6, 0), Step(7, 7, 1)};
  EXPECT_EQ(Sequence(*p, steps), "FFPPFFF");
  auto q = Make("escalate-on-failure", {{"failures", 2}});
  EXPECT_TRUE(q->Propose(Step(1, 1, 2)).required);  // escalation is about quality
}

TEST(RoutingPolicyTest, EscalationCanBeLimitedToMSteps) {
  auto p = Make("escalate-on-failure", {{"failures", 1}, {"pro_steps", 2}});
  std::vector<StepFeatures> steps = {Step(1, 1, 1), Step(2, 2, 2), Step(3, 3, 3), Step(4, 4, 4)};
  // Pro for two calls, back to Flash, then the still-high failure count escalates again.
  EXPECT_EQ(Sequence(*p, steps), "PPFP");
}

TEST(RoutingPolicyTest, EscalationEndsWithTheTurn) {
  auto p = Make("escalate-on-failure", {{"failures", 1}});
  std::vector<StepFeatures> steps = {Step(1, 1, 1), Step(2, 2, 1), Step(3, 1, 0)};
  EXPECT_EQ(Sequence(*p, steps), "PPF");
}

TEST(RoutingPolicyTest, BudgetUsesProUntilTheSpendLimit) {
  auto p = Make("budget", {{"max_usd", 0.10}});
  StepFeatures f = Step(1);
  f.cost_so_far_usd = 0.05;
  EXPECT_TRUE(p->Propose(f).pro);
  f.cost_so_far_usd = 0.10;
  EXPECT_FALSE(p->Propose(f).pro);
}

TEST(RoutingPolicyTest, BadKindsAndParamsAreNamed) {
  auto unknown = MakeRoutingPolicy("smart", Json::object());
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("escalate-on-failure"), std::string::npos);
  auto bad = MakeRoutingPolicy("random", {{"p", 2.0}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("p must be between"), std::string::npos);
  EXPECT_FALSE(MakeRoutingPolicy("pro-first", {{"k", "three"}}));
}

}  // namespace
}  // namespace dsagent
