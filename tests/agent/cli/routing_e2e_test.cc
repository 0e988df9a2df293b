// Routing end to end: the real binary, the default cache-aware escalate-on-failure policy, and the
// test server's per-model prefix cache.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;

constexpr const char* kRoutingKey = "routing-test-key";

class RoutingE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kRoutingKey);
    box_.WriteRepoFile("README", "a repo\n");
    box_.GitInitAndCommit();
  }
  ProcessResult Run(std::vector<std::string> args) {
    return RunDsagent(
        args,
        box_.Env({{"DEEPSEEK_API_KEY", kRoutingKey}, {"DEEPSEEK_BASE_URL", server_.BaseUrl()}}),
        box_.repo());
  }
  std::vector<Json> TraceEvents(const std::string& type) {
    std::vector<Json> out;
    for (const auto& e : std::filesystem::directory_iterator(box_.sessions_dir())) {
      std::istringstream lines(ReadFile(e.path()));
      for (std::string line; std::getline(lines, line);) {
        Json j = Json::parse(line);
        if (j["type"] == type) out.push_back(j);
      }
    }
    return out;
  }
  Sandbox box_;
  DeepSeekTestServer server_;
};

TEST_F(RoutingE2ETest, FailingTestsEscalateToProAndSuccessDeEscalates) {
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c1", "echo 'FAILED test_x'; exit 1")}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c2", "echo 'FAILED test_y'; exit 1")}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c3", "echo 'all tests passed'")}));
  server_.Enqueue(ScriptedReply::Text("fixed"));
  auto r = Run({"run", "--json", "make the tests pass"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].json["model"], "deepseek-v4-flash");
  EXPECT_EQ(requests[1].json["model"], "deepseek-v4-flash");
  EXPECT_EQ(requests[2].json["model"], "deepseek-v4-pro");  // after 2 failures
  EXPECT_EQ(requests[2].json["reasoning_effort"], "max");
  EXPECT_EQ(requests[3].json["model"], "deepseek-v4-flash");  // a command passed

  const Json env = Json::parse(r.out);
  EXPECT_EQ(env["models"]["deepseek-v4-pro"]["calls"], 1);
  EXPECT_EQ(env["models"]["deepseek-v4-flash"]["calls"], 3);

  // Every decision is in the trace with its features and alternatives.
  const auto routes = TraceEvents("route");
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[2]["lane"]["model"], "deepseek-v4-pro");
  EXPECT_THAT(routes[2]["reason"].get<std::string>(), HasSubstr("escalate"));
  EXPECT_EQ(routes[2]["features"]["failures_since_success"], 2);
  EXPECT_EQ(routes[3]["features"]["last_verify_passed"], true);
  EXPECT_EQ(routes[0]["alternatives"].size(), 2u);

  auto show = Run({"session", "show", "--routing", env["session_id"]});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("deepseek-v4-pro"));
  EXPECT_THAT(show.out, HasSubstr("escalate"));
}

// The router's estimate of the tokens a model has not cached must match what the server (which
// models a per-model prefix cache) then bills as cache misses — for the first Pro call (the whole
// context is new to Pro) and for the switch back to Flash (only what Flash has not seen).
TEST_F(RoutingE2ETest, SwitchCostEstimateMatchesTheServersCacheMisses) {
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c1", "seq 1 300; exit 1")}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c2", "seq 1 300; exit 1")}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c3", "seq 1 200")}));
  server_.Enqueue(ScriptedReply::Text("done"));
  auto r = Run({"run", "--json", "go"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto requests = server_.Requests();
  const auto routes = TraceEvents("route");
  ASSERT_EQ(requests.size(), 4u);
  ASSERT_EQ(routes.size(), 4u);
  for (size_t i : {2u, 3u}) {
    const double estimated = routes[i]["estimated_unseen_tokens"].get<double>();
    const double billed = static_cast<double>(requests[i].usage.input_cache_miss);
    EXPECT_GT(billed, 0);
    EXPECT_NEAR(estimated, billed, 0.05 * billed) << "request " << i;
  }
  // Flash had seen everything up to its second reply: its miss after the switch back is far
  // smaller than Pro's first call.
  EXPECT_LT(requests[3].usage.input_cache_miss, requests[2].usage.input_cache_miss);
}

TEST_F(RoutingE2ETest, EachModelsRequestStreamStaysBytePrefixStable) {
  for (int i = 0; i < 2; ++i) {
    server_.Enqueue(ScriptedReply::Calls({ScriptedBash("f" + std::to_string(i), "exit 1")}));
  }
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("p", "exit 1")}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("q", "true")}));
  server_.Enqueue(ScriptedReply::Text("done"));
  auto r = Run({"run", "--json", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::string> last_messages;  // per model: previous messages bytes
  for (const auto& req : server_.Requests()) {
    const std::string model = req.json["model"];
    std::string messages = CanonicalJson(req.json["messages"]);
    if (auto it = last_messages.find(model); it != last_messages.end()) {
      std::string prev = it->second;
      prev.pop_back();
      EXPECT_EQ(messages.compare(0, prev.size(), prev), 0) << model;
    }
    last_messages[model] = messages;
  }
  EXPECT_EQ(last_messages.size(), 2u);
}

TEST_F(RoutingE2ETest, ModelFlagPinsTheLane) {
  for (int i = 0; i < 3; ++i) {
    server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c" + std::to_string(i), "exit 1")}));
  }
  server_.Enqueue(ScriptedReply::Text("done"));
  auto r = Run({"run", "--json", "--model", "deepseek-v4-flash", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& req : server_.Requests()) EXPECT_EQ(req.json["model"], "deepseek-v4-flash");
  EXPECT_TRUE(TraceEvents("route").empty());
}

TEST_F(RoutingE2ETest, PolicyFlagSelectsAPolicyAndUnknownOnesAreConfigErrors) {
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto r = Run({"run", "--json", "--policy", "always-pro", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server_.Requests()[0].json["model"], "deepseek-v4-pro");
  auto bad = Run({"run", "--json", "--policy", "no-such-policy", "x"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_THAT(bad.err, HasSubstr("escalate-on-failure"));  // lists the built-in policies
}

}  // namespace
}  // namespace dsagent::testing
