// End-to-end tests of `dsagent run --output-format stream-json` (agent/cli/stream_json_printer.*):
// the real binary against the DeepSeek test server; stdout must be JSONL, one event per line, in
// the order things happened, ending with the same envelope `--json` prints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"

namespace dsagent::testing {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kStreamJsonKey = "test-key-0123456789abcdef";

// Every stdout line parsed; a line that is not one JSON object with "type" and "ts" fails the test.
std::vector<Json> Events(const ProcessResult& r) {
  std::vector<Json> events;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    Json j = Json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "not a JSON object: " << line << "\nstderr:\n" << r.err;
    if (!j.is_object()) continue;
    EXPECT_TRUE(j.contains("type") && j.contains("ts")) << line;
    events.push_back(std::move(j));
  }
  EXPECT_TRUE(r.out.empty() || r.out.back() == '\n');
  return events;
}

std::vector<std::string> Types(const std::vector<Json>& events, bool with_routes) {
  std::vector<std::string> types;
  for (const Json& e : events) {
    if (with_routes || e["type"] != "route") types.push_back(e["type"]);
  }
  return types;
}

class StreamJsonE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kStreamJsonKey);
    box_.WriteRepoFile("notes.txt", std::string("line one\napi=") + kStreamJsonKey + "\n");
    box_.GitInitAndCommit();
  }

  ProcessResult Run(std::vector<std::string> args, std::map<std::string, std::string> extra = {}) {
    extra.emplace("DEEPSEEK_API_KEY", kStreamJsonKey);
    extra.emplace("DEEPSEEK_BASE_URL", server_.BaseUrl());
    return RunDsagent(args, box_.Env(extra), box_.repo());
  }

  // A tool call (a shell command printing a file that holds the API key), then a final answer.
  static void ScriptTwoSteps(DeepSeekTestServer& server) {
    server.Enqueue(ScriptedReply::Calls(
        {ScriptedCall("call_1", "bash", {{"command", "cat notes.txt"}})}, "Let me look."));
    server.Enqueue(ScriptedReply::Text("notes.txt has two lines."));
  }

  Sandbox box_;
  DeepSeekTestServer server_;
};

TEST_F(StreamJsonE2ETest, TwoStepRunStreamsEventsInOrderEndingWithTheJsonEnvelope) {
  ScriptTwoSteps(server_);
  auto r = Run({"run", "--output-format", "stream-json", "What is in notes.txt?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<Json> events = Events(r);
  EXPECT_THAT(Types(events, false), ElementsAre("session_start", "model_call", "tool_call",
                                                "tool_result", "model_call", "result"));
  // The default policy routes every step: its decision comes right before the call it chose for.
  EXPECT_THAT(Types(events, true), ElementsAre("session_start", "route", "model_call", "tool_call",
                                               "tool_result", "route", "model_call", "result"));
  ASSERT_EQ(events.size(), 8u);

  const Json& start = events[0];
  EXPECT_EQ(start["schema_version"], 1);
  EXPECT_EQ(start["provider"], "deepseek");
  EXPECT_EQ(start["resumed"], false);
  EXPECT_EQ(start["routing_policy"], "cache-aware");
  EXPECT_EQ(start["lane"]["model"], "deepseek-v4-flash");
  EXPECT_TRUE(start["limits"].contains("max_steps"));
  const std::string session_id = start["session_id"];
  EXPECT_FALSE(session_id.empty());

  EXPECT_EQ(events[1]["step"], 1);
  EXPECT_EQ(events[1]["lane"]["model"], "deepseek-v4-flash");
  const Json& call1 = events[2];
  EXPECT_EQ(call1["step"], 1);
  EXPECT_EQ(call1["lane"]["model"], "deepseek-v4-flash");
  EXPECT_EQ(call1["tool_calls"], 1);
  for (const char* k : {"input_cache_hit", "input_cache_miss", "output", "reasoning"}) {
    EXPECT_TRUE(call1["usage"].contains(k)) << k;
  }
  EXPECT_TRUE(call1.contains("cache_hit_rate"));
  EXPECT_GT(call1["cost_usd"].get<double>(), 0.0);

  const Json& tool_call = events[3];
  EXPECT_EQ(tool_call["id"], "call_1");
  EXPECT_EQ(tool_call["name"], "bash");
  EXPECT_EQ(Json::parse(tool_call["arguments"].get<std::string>())["command"], "cat notes.txt");
  const Json& tool_result = events[4];
  EXPECT_EQ(tool_result["id"], "call_1");
  EXPECT_EQ(tool_result["name"], "bash");
  EXPECT_EQ(tool_result["ok"], true);
  EXPECT_EQ(tool_result["exit_code"], 0);
  // The summary is of the redacted output: the key never reaches stdout.
  EXPECT_THAT(tool_result["preview"].get<std::string>(),
              HasSubstr("api=[REDACTED:DEEPSEEK_API_KEY]"));
  EXPECT_GE(tool_result["lines"].get<int>(), 2);
  EXPECT_EQ(tool_result["bytes"].get<size_t>(), tool_result["preview"].get<std::string>().size());
  EXPECT_EQ(tool_result["truncated"], false);
  EXPECT_THAT(r.out, Not(HasSubstr(kStreamJsonKey)));

  EXPECT_EQ(events[6]["step"], 2);
  EXPECT_EQ(events[6]["text"], "notes.txt has two lines.");
  EXPECT_EQ(events[6]["tool_calls"], 0);

  // The last event is the envelope --json prints for the same session (replayed against a fresh
  // server so that its cache starts cold as well); only the session id differs.
  Json result = events[7];
  EXPECT_EQ(result["session_id"], session_id);
  DeepSeekTestServer fresh;
  fresh.SetApiKey(kStreamJsonKey);
  ScriptTwoSteps(fresh);
  auto again =
      Run({"run", "--json", "What is in notes.txt?"}, {{"DEEPSEEK_BASE_URL", fresh.BaseUrl()}});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  Json envelope = Json::parse(again.out);
  for (const char* k : {"type", "ts", "session_id"}) result.erase(k);
  envelope.erase("session_id");
  EXPECT_EQ(CanonicalJson(result), CanonicalJson(envelope));
}

TEST_F(StreamJsonE2ETest, RejectedRequestEmitsAnErrorEventAndExitsWithTheApiFailureCode) {
  server_.Enqueue(ScriptedReply::Error(422, "Invalid parameter: messages"));
  auto r = Run({"run", "--output-format", "stream-json", "hi"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  const std::vector<Json> events = Events(r);
  EXPECT_THAT(Types(events, false), ElementsAre("session_start", "error", "result"));
  ASSERT_GE(events.size(), 2u);
  const Json& error = events[events.size() - 2];
  EXPECT_EQ(error["step"], 1);
  EXPECT_EQ(error["termination_reason"], "error:invalid_request");
  EXPECT_EQ(error["exit_code"], 4);
  EXPECT_EQ(error["http_status"], 422);
  EXPECT_THAT(error["message"].get<std::string>(), HasSubstr("Invalid parameter"));
  const Json& result = events.back();
  EXPECT_EQ(result["status"], "error");
  EXPECT_EQ(result["exit_code"], 4);
  EXPECT_EQ(result["termination_reason"], "error:invalid_request");
}

// A run that fails before a session exists still ends with an error event and the envelope.
TEST_F(StreamJsonE2ETest, UsageErrorBeforeTheSessionStillEmitsErrorAndResult) {
  auto r = Run({"run", "--output-format", "stream-json"});
  EXPECT_EQ(r.exit_code, 2);
  const std::vector<Json> events = Events(r);
  EXPECT_THAT(Types(events, true), ElementsAre("error", "result"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["termination_reason"], "error:usage");
  EXPECT_EQ(events[0]["step"], nullptr);
  EXPECT_EQ(events[1]["exit_code"], 2);
  EXPECT_TRUE(server_.Requests().empty());
}

TEST_F(StreamJsonE2ETest, JsonIsAnAliasAndConflictsWithAnotherFormat) {
  server_.Enqueue(ScriptedReply::Text("hello"));
  auto r = Run({"run", "--output-format", "json", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["result"], "hello");
  auto both = Run({"run", "--json", "--output-format", "text", "hi"});
  EXPECT_EQ(both.exit_code, 2);
  auto bad = Run({"run", "--output-format", "yaml", "hi"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(server_.Requests().size(), 1u);
}

}  // namespace
}  // namespace dsagent::testing
