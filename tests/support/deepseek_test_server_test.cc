// The test server is itself a component other tests trust, so its protocol behaviour is pinned
// here with a plain HTTP client (cpp-httplib), independent of the provider code.
#include "tests/support/deepseek_test_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

namespace dsagent::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

struct Answer {
  int status = 0;
  std::string body;
  std::string retry_after;
};

Answer Post(const DeepSeekTestServer& server, const std::string& path, const std::string& body,
            const std::string& key = "test-key", bool anthropic_auth = false) {
  httplib::Client cli("127.0.0.1", server.Port());
  httplib::Headers headers;
  if (anthropic_auth) {
    headers.emplace("x-api-key", key);
  } else {
    headers.emplace("Authorization", "Bearer " + key);
  }
  auto res = cli.Post(path.c_str(), headers, body, "application/json");
  if (!res) return {};
  return {res->status, res->body, res->get_header_value("Retry-After")};
}

json ChatBody(json messages, bool stream = true) {
  return {{"model", "deepseek-v4-pro"}, {"messages", std::move(messages)}, {"stream", stream}};
}

json User(const std::string& text) { return {{"role", "user"}, {"content", text}}; }

// The `data:` payloads of an SSE body, in order (comment and blank lines skipped).
std::vector<std::string> DataLines(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(pos, end - pos);
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
    pos = end + 1;
  }
  return out;
}

std::string ErrorMessage(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return j.is_discarded() ? body : j["error"]["message"].get<std::string>();
}

TEST(DeepSeekTestServerTest, WrongKeyIs401WithMaskedKeyAndKeepsTheScript) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Text("hi"));
  Answer a =
      Post(server, "/chat/completions", ChatBody({User("x")}).dump(), "sk-wrong-secret-9876");
  EXPECT_EQ(a.status, 401);
  EXPECT_THAT(ErrorMessage(a.body), HasSubstr("Authentication Fails"));
  EXPECT_THAT(a.body, HasSubstr("****9876"));
  EXPECT_THAT(a.body, Not(HasSubstr("sk-wrong-secret")));
  EXPECT_EQ(server.Remaining(), 1u);
  ASSERT_EQ(server.Requests().size(), 1u);
  EXPECT_EQ(server.Requests()[0].status, 401);
}

TEST(DeepSeekTestServerTest, DeveloperRoleIsRejectedLikeDeepSeek) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Text("hi"));
  Answer a = Post(server, "/chat/completions",
                  ChatBody({{{"role", "developer"}, {"content", "x"}}, User("y")}).dump());
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(ErrorMessage(a.body),
              HasSubstr("unknown variant `developer`, expected one of `system`, `user`, "
                        "`assistant`, `tool`, `latest_reminder`"));
  EXPECT_EQ(server.Remaining(), 1u);
}

TEST(DeepSeekTestServerTest, ToolCallTurnWithoutReasoningIs400InThinkingModeOnly) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Text("ok"));
  json assistant = {
      {"role", "assistant"},
      {"content", ""},
      {"tool_calls", json::array({{{"id", "c1"},
                                   {"type", "function"},
                                   {"function", {{"name", "f"}, {"arguments", "{}"}}}}})}};
  json messages = {
      User("a"), assistant, {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "r"}}};
  Answer a = Post(server, "/chat/completions", ChatBody(messages).dump());
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(ErrorMessage(a.body),
            "The `reasoning_content` in the thinking mode must be passed back to the API.");
  EXPECT_THAT(a.body, HasSubstr("invalid_request_error"));
  EXPECT_EQ(server.Remaining(), 1u);

  json disabled = ChatBody(messages);
  disabled["thinking"] = {{"type", "disabled"}};
  EXPECT_EQ(Post(server, "/chat/completions", disabled.dump()).status, 200);
  EXPECT_EQ(server.Remaining(), 0u);
}

TEST(DeepSeekTestServerTest, StrictModeRejectsPlainAssistantTurnsWithIndex) {
  DeepSeekTestServer server;
  server.SetStrictReasoningAll(true);
  server.Enqueue(ScriptedReply::Text("ok"));
  json messages = {{{"role", "system"}, {"content", "s"}},
                   User("a"),
                   {{"role", "assistant"}, {"content", "b"}},
                   User("c")};
  Answer a = Post(server, "/chat/completions", ChatBody(messages).dump());
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(ErrorMessage(a.body),
            "Missing `reasoning_content` field in the assistant message at message index 2");
  messages[2]["reasoning_content"] = "";
  EXPECT_EQ(Post(server, "/chat/completions", ChatBody(messages).dump()).status, 200);
}

TEST(DeepSeekTestServerTest, MalformedJsonAndExhaustedScript) {
  DeepSeekTestServer server;
  EXPECT_EQ(Post(server, "/chat/completions", "{not json").status, 400);
  Answer a = Post(server, "/chat/completions", ChatBody({User("x")}).dump());
  EXPECT_EQ(a.status, 500);
  EXPECT_THAT(a.body, HasSubstr("exhausted"));
}

TEST(DeepSeekTestServerTest, StreamsChatCompletionChunksWithKeepAliveUsageAndDone) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Calls({{"call_0", "read_file", R"({"path":"a.cc"})"}}, "think"));
  Answer a = Post(server, "/chat/completions", ChatBody({User("x")}).dump());
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body.rfind(": keep-alive\n", 0), 0u) << a.body;
  std::vector<std::string> data = DataLines(a.body);
  ASSERT_GE(data.size(), 4u);
  EXPECT_EQ(data.back(), "[DONE]");
  json usage_chunk = json::parse(data[data.size() - 2]);
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_GT(usage_chunk["usage"]["prompt_cache_miss_tokens"].get<int>(), 0);
  std::string args;
  int arg_fragments = 0;
  std::string finish;
  for (size_t i = 0; i + 2 < data.size(); ++i) {
    json chunk = json::parse(data[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["model"], "deepseek-v4-pro");
    EXPECT_TRUE(chunk["usage"].is_null());
    const json& choice = chunk["choices"][0];
    EXPECT_TRUE(choice["logprobs"].is_null());
    if (choice["finish_reason"].is_string()) finish = choice["finish_reason"];
    if (choice["delta"].contains("tool_calls")) {
      const std::string frag = choice["delta"]["tool_calls"][0]["function"]["arguments"];
      if (!frag.empty()) ++arg_fragments;
      args += frag;
    }
  }
  EXPECT_EQ(args, R"({"path":"a.cc"})");
  EXPECT_GE(arg_fragments, 2);
  EXPECT_EQ(finish, "tool_calls");
}

TEST(DeepSeekTestServerTest, StreamsAnthropicEventSequence) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Text("hello", "hmm"));
  json body = {
      {"model", "deepseek-v4-flash"},
      {"max_tokens", 100},
      {"stream", true},
      {"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "x"}}}}}}}};
  Answer a = Post(server, "/anthropic/v1/messages", body.dump(), "test-key", true);
  ASSERT_EQ(a.status, 200) << a.body;
  std::vector<std::string> types;
  for (const auto& d : DataLines(a.body)) types.push_back(json::parse(d)["type"]);
  ASSERT_GE(types.size(), 6u);
  EXPECT_EQ(types.front(), "message_start");
  EXPECT_EQ(types[1], "ping");
  EXPECT_EQ(types[types.size() - 2], "message_delta");
  EXPECT_EQ(types.back(), "message_stop");
  EXPECT_THAT(a.body, HasSubstr("event: content_block_delta\ndata: "));
  EXPECT_THAT(a.body, HasSubstr("thinking_delta"));
  EXPECT_THAT(a.body, HasSubstr("\"stop_reason\":\"end_turn\""));
}

TEST(DeepSeekTestServerTest, NonStreamingBodiesInBothFormats) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Text("plain", "why"));
  server.Enqueue(ScriptedReply::Calls({{"toolu_1", "grep", R"({"q":"x"})"}}));
  Answer a = Post(server, "/v1/chat/completions", ChatBody({User("x")}, false).dump());
  ASSERT_EQ(a.status, 200);
  json j = json::parse(a.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "plain");
  EXPECT_EQ(j["choices"][0]["message"]["reasoning_content"], "why");

  json body = {{"model", "deepseek-v4-flash"}, {"max_tokens", 100}, {"messages", {User("x")}}};
  Answer b = Post(server, "/anthropic/v1/messages", body.dump(), "test-key", true);
  ASSERT_EQ(b.status, 200) << b.body;
  json m = json::parse(b.body);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_EQ(m["content"].back()["type"], "tool_use");
  EXPECT_EQ(m["content"].back()["input"], json({{"q", "x"}}));
}

TEST(DeepSeekTestServerTest, ScriptedErrorCarriesRetryAfter) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Error(429, "Rate Limit Reached", 7));
  Answer a = Post(server, "/chat/completions", ChatBody({User("x")}).dump());
  EXPECT_EQ(a.status, 429);
  EXPECT_EQ(a.retry_after, "7");
  EXPECT_EQ(ErrorMessage(a.body), "Rate Limit Reached");
}

TEST(DeepSeekTestServerTest, CutStreamEndsWithoutDone) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Cut("partial answer"));
  httplib::Client cli("127.0.0.1", server.Port());
  std::string received;
  httplib::Request req;
  req.method = "POST";
  req.path = "/chat/completions";
  req.headers = {{"Authorization", "Bearer test-key"}, {"Content-Type", "application/json"}};
  req.body = ChatBody({User("x")}).dump();
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received.append(data, n);
    return true;
  };
  auto res = cli.send(req);
  // The connection drops mid-body: the client sees a read error, not a complete response.
  EXPECT_FALSE(res);
  EXPECT_THAT(received, HasSubstr("partial"));
  EXPECT_THAT(received, Not(HasSubstr("[DONE]")));
  EXPECT_THAT(received, Not(HasSubstr("prompt_tokens")));
}

TEST(DeepSeekTestServerTest, PrefixCacheCountsPersistedUnitsOnly) {
  DeepSeekTestServer server;
  for (int i = 0; i < 5; ++i) server.Enqueue(ScriptedReply::Text("answer " + std::to_string(i)));
  auto usage_of = [&](size_t i) { return server.Requests().at(i).usage; };
  json system = {{"role", "system"}, {"content", std::string(400, 's')}};
  json first = ChatBody({system, User("question one")});
  first["user_id"] = "repo-1";
  ASSERT_EQ(Post(server, "/chat/completions", first.dump()).status, 200);
  const Usage u1 = usage_of(0);
  EXPECT_EQ(u1.input_cache_hit, 0);
  EXPECT_GT(u1.input_cache_miss, 100);

  // The next turn replays the reply the way DeepSeek expects: the whole first exchange hits.
  json second = first;
  second["messages"].push_back({{"role", "assistant"}, {"content", "answer 0"}});
  second["messages"].push_back(User("question two"));
  ASSERT_EQ(Post(server, "/chat/completions", second.dump()).status, 200);
  const Usage u2 = usage_of(1);
  EXPECT_GT(u2.input_cache_hit, u1.input_cache_hit + u1.input_cache_miss);
  EXPECT_GT(u2.input_cache_miss, 0);

  // A sibling of the first request hits exactly the first request's prompt unit.
  json sibling = first;
  sibling["messages"].push_back(User("another question"));
  ASSERT_EQ(Post(server, "/chat/completions", sibling.dump()).status, 200);
  EXPECT_EQ(usage_of(2).input_cache_hit, u1.input_cache_hit + u1.input_cache_miss);

  // Another user_id is another cache partition.
  json other_user = second;
  other_user["user_id"] = "repo-2";
  ASSERT_EQ(Post(server, "/chat/completions", other_user.dump()).status, 200);
  EXPECT_EQ(usage_of(3).input_cache_hit, 0);

  // A changed system prompt shares nothing.
  json changed = second;
  changed["messages"][0]["content"] = std::string(400, 't');
  ASSERT_EQ(Post(server, "/chat/completions", changed.dump()).status, 200);
  EXPECT_EQ(usage_of(4).input_cache_hit, 0);
}

TEST(DeepSeekTestServerTest, BlockedRequestWaitsForRelease) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Block(ScriptedReply::Text("released")));
  Answer a;
  std::thread client([&] { a = Post(server, "/chat/completions", ChatBody({User("x")}).dump()); });
  ASSERT_TRUE(server.WaitForRequests(1, std::chrono::seconds(5)));
  EXPECT_EQ(server.Requests()[0].status, 0);  // held
  server.ReleaseBlocked();
  client.join();
  EXPECT_EQ(a.status, 200);
  std::string content;
  for (const auto& d : DataLines(a.body)) {
    if (d == "[DONE]") continue;
    json chunk = json::parse(d);
    if (!chunk["choices"].empty() && chunk["choices"][0]["delta"]["content"].is_string()) {
      content += chunk["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(content, "released");
  EXPECT_EQ(server.Requests()[0].status, 200);
}

TEST(DeepSeekTestServerTest, ModelsEndpointNeedsTheKey) {
  DeepSeekTestServer server;
  httplib::Client cli("127.0.0.1", server.Port());
  auto ok = cli.Get("/models", {{"Authorization", "Bearer test-key"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_THAT(ok->body, HasSubstr("deepseek-v4-flash"));
  auto denied = cli.Get("/models");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_TRUE(server.Requests().empty());  // only chat requests are recorded
}

}  // namespace
}  // namespace dsagent::testing
