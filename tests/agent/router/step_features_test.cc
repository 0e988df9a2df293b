#include "agent/router/step_features.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

ToolResult Ok(std::string out = "ok") { return {true, std::move(out), Json::object()}; }
ToolResult Fail(std::string out = "Error: x") { return {false, std::move(out), Json::object()}; }

TEST(StepFeaturesTest, CountsFailuresUntilACommandPasses) {
  FeatureTracker t;
  t.StartTurn();
  StepFeatures f = t.Next(0, 1);
  EXPECT_EQ(f.step, 1);
  EXPECT_EQ(f.phase, "start");
  t.ObserveResponse("flash", {0, 100, 10, 0});
  t.ObserveTool({"c1", "bash", "{\"command\":\"make test\"}"}, Fail());
  f = t.Next(0, 1);
  EXPECT_EQ(f.phase, "verify");
  EXPECT_EQ(f.failures_since_success, 1);
  EXPECT_FALSE(f.last_verify_passed);
  t.ObserveResponse("flash", {100, 50, 10, 0});
  t.ObserveTool({"c2", "edit_file", "{\"path\":\"a\"}"}, Fail());  // an edit miss
  f = t.Next(0, 1);
  EXPECT_EQ(f.failures_since_success, 2);
  EXPECT_EQ(f.edit_misses, 1);
  t.ObserveResponse("flash", {150, 50, 10, 0});
  t.ObserveTool({"c3", "bash", "{\"command\":\"make test\"}"}, Ok());
  f = t.Next(0, 1);
  EXPECT_TRUE(f.last_verify_passed);
  EXPECT_EQ(f.failures_since_success, 0);
}

TEST(StepFeaturesTest, RepeatedIdenticalCallsCountAsFailures) {
  FeatureTracker t;
  t.StartTurn();
  t.Next(0, 1);
  t.ObserveResponse("m", {0, 10, 1, 0});
  t.ObserveTool({"a", "read_file", "{\"path\":\"x\"}"}, Ok());
  t.Next(0, 1);
  t.ObserveResponse("m", {10, 10, 1, 0});
  t.ObserveTool({"b", "read_file", "{\"path\":\"x\"}"}, Ok());
  const StepFeatures f = t.Next(0, 1);
  EXPECT_EQ(f.repeated_calls, 1);
  EXPECT_EQ(f.failures_since_success, 1);
  EXPECT_EQ(f.phase, "explore");
}

TEST(StepFeaturesTest, PureEditStepsAreMechanical) {
  FeatureTracker t;
  t.StartTurn();
  t.Next(0, 1);
  t.ObserveResponse("m", {0, 10, 1, 0});
  t.ObserveTool({"a", "edit_file", "{}"}, Ok());
  t.ObserveTool({"b", "write_file", "{}"}, Ok());
  const StepFeatures f = t.Next(0, 1);
  EXPECT_TRUE(f.last_step_mechanical);
  EXPECT_EQ(f.phase, "edit");
}

TEST(StepFeaturesTest, UnseenTokensArePerModel) {
  FeatureTracker t;
  t.StartTurn();
  t.SeedContextTokens(1000);
  StepFeatures f = t.Next(0, 1);
  EXPECT_EQ(f.context_tokens, 1000);
  EXPECT_TRUE(f.unseen_tokens.empty());           // no model has seen anything
  t.ObserveResponse("flash", {0, 1000, 200, 0});  // flash now caches 1200
  t.ObserveTool({"a", "bash", "{}"}, Ok(std::string(4000, 'x')));
  f = t.Next(0, 1);
  EXPECT_GT(f.context_tokens, 1200 + 1000);
  EXPECT_EQ(f.unseen_tokens.at("flash"), f.context_tokens - 1200);
  EXPECT_EQ(f.unseen_tokens.count("pro"), 0u);
  t.ObserveResponse("pro", {0, f.context_tokens, 100, 0});
  t.StartTurn();
  f = t.Next(0, 1);
  EXPECT_EQ(f.unseen_tokens.at("pro"), 0);
  EXPECT_EQ(f.unseen_tokens.at("flash"), f.context_tokens - 1200);
  EXPECT_EQ(f.turn_step, 1);
  EXPECT_EQ(f.step, 3);
}

}  // namespace
}  // namespace dsagent
