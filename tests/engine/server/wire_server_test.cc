// The Anthropic Messages and OpenAI Responses endpoints over a real loopback socket, on the tiny
// checkpoint and its test tokenizer: the same engine, limits and prefix cache as chat completions.
#include <gtest/gtest.h>
#include <httplib.h>

#include "engine/server/chat_server.h"
#include "tests/engine/generate/tiny_model.h"
#include "tests/engine/server/sse_events.h"
#include "tests/support/hang_guard.h"

namespace dsagent::engine::server {
namespace {
using testing::SseEvents;
using testing::TinySequenceModel;
using testing::TinyTokenizer;

class WireServerTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& api_key = "") {
    completer_ = std::make_unique<ChatCompleter>(TinySequenceModel(), TinyTokenizer(), &cache_);
    server_ = std::make_unique<ChatServer>(*completer_, ServerOptions{.host = "127.0.0.1",
                                                                      .port = 0,
                                                                      .model_id = "tiny",
                                                                      .context_limit = 4096,
                                                                      .default_max_tokens = 8,
                                                                      .max_tokens_limit = 6,
                                                                      .api_key = api_key});
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(dsagent::testing::HangGuardSeconds(60), 0);
  }
  httplib::Result Post(const std::string& path, const OrderedJson& body,
                       const httplib::Headers& headers = {}) {
    return client_->Post(path, headers, body.dump(), "application/json");
  }

  InMemoryPrefixCache cache_;
  std::unique_ptr<ChatCompleter> completer_;
  std::unique_ptr<ChatServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

// Claude Code's shape, shortened: system blocks, a tool, a max_tokens far over the server's cap.
const OrderedJson kMessages = OrderedJson::parse(R"({
  "model": "claude-sonnet-4-5", "max_tokens": 32000,
  "system": [{"type": "text", "text": "You are a coding agent.",
              "cache_control": {"type": "ephemeral"}}],
  "tools": [{"name": "Read", "description": "Reads a file.",
             "input_schema": {"type": "object", "properties": {"path": {"type": "string"}},
                              "required": ["path"]}}],
  "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hi."}]}]})");

TEST_F(WireServerTest, MessagesAnswerInAnthropicsShapeAndHitTheCacheOnRepeat) {
  StartServer();
  auto first = Post("/v1/messages", kMessages);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  const auto a = OrderedJson::parse(first->body);
  EXPECT_EQ(a["type"], "message");
  EXPECT_EQ(a["role"], "assistant");
  EXPECT_EQ(a["model"], "claude-sonnet-4-5");
  EXPECT_EQ(a["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(a["stop_reason"], "max_tokens");  // random weights never end
  EXPECT_EQ(a["usage"]["output_tokens"], 6);  // 32000 asked, capped at 6
  EXPECT_EQ(a["usage"]["cache_read_input_tokens"], 0);
  const int64_t prompt = a["usage"]["input_tokens"];
  EXPECT_GT(prompt, 20);
  for (const auto& block : a["content"]) EXPECT_NE(block["type"], "thinking");  // not asked for

  // count_tokens agrees with what the completion was charged.
  OrderedJson count_request = kMessages;
  count_request.erase("max_tokens");
  auto count = Post("/v1/messages/count_tokens", count_request);
  ASSERT_TRUE(count);
  ASSERT_EQ(count->status, 200) << count->body;
  EXPECT_EQ(OrderedJson::parse(count->body)["input_tokens"], prompt);

  // The same prefix again: served from the prefix cache (all but the last prompt token).
  auto second = Post("/v1/messages", kMessages);
  ASSERT_TRUE(second);
  const auto b = OrderedJson::parse(second->body);
  EXPECT_EQ(b["usage"]["cache_read_input_tokens"], prompt - 1);
  EXPECT_EQ(b["usage"]["input_tokens"], 1);
  EXPECT_EQ(b["content"], a["content"]);  // greedy: the same reply
}

// DeepSeek's layout (an Anthropic SDK's base URL https://api.deepseek.com/anthropic): a client set
// up for DeepSeek reaches the same endpoints with the host changed.
TEST_F(WireServerTest, MessagesAnswerUnderDeepSeeksAnthropicPathToo) {
  StartServer();
  auto plain = Post("/v1/messages", kMessages);
  auto deepseek = Post("/anthropic/v1/messages", kMessages);
  ASSERT_TRUE(plain);
  ASSERT_TRUE(deepseek);
  ASSERT_EQ(deepseek->status, 200) << deepseek->body;
  EXPECT_EQ(OrderedJson::parse(deepseek->body)["content"],
            OrderedJson::parse(plain->body)["content"]);
  OrderedJson count_request = kMessages;
  count_request.erase("max_tokens");
  auto count = Post("/anthropic/v1/messages/count_tokens", count_request);
  ASSERT_TRUE(count);
  ASSERT_EQ(count->status, 200) << count->body;
  EXPECT_EQ(OrderedJson::parse(count->body)["input_tokens"],
            OrderedJson::parse(plain->body)["usage"]["input_tokens"]);
  auto missing = Post("/anthropic/v1/nope", kMessages);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(OrderedJson::parse(missing->body)["error"]["type"], "not_found_error");
}

TEST_F(WireServerTest, MessagesStreamMatchesTheNonStreamedReply) {
  StartServer();
  OrderedJson request = kMessages;
  request["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
  auto plain = Post("/v1/messages", request);
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->body;
  const auto message = OrderedJson::parse(plain->body);
  request["stream"] = true;
  auto streamed = Post("/v1/messages?beta=true", request);
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  EXPECT_NE(streamed->get_header_value("Content-Type").find("text/event-stream"),
            std::string::npos);
  const auto events = SseEvents(streamed->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.front().first, "message_start");
  EXPECT_EQ(events.back().first, "message_stop");
  // The blocks rebuilt from the deltas are the non-streamed content.
  OrderedJson blocks = OrderedJson::array();
  OrderedJson usage;
  for (const auto& [name, data] : events) {
    if (name == "content_block_start") blocks.push_back(data["content_block"]);
    if (name == "content_block_delta") {
      auto& block = blocks[data["index"].get<size_t>()];
      const auto& d = data["delta"];
      if (d["type"] == "text_delta")
        block["text"] = block["text"].get<std::string>() + d["text"].get<std::string>();
      if (d["type"] == "thinking_delta") {
        block["thinking"] = block["thinking"].get<std::string>() + d["thinking"].get<std::string>();
      }
      if (d["type"] == "signature_delta") block["signature"] = d["signature"];
    }
    if (name == "message_delta") {
      EXPECT_EQ(data["delta"]["stop_reason"], "max_tokens");
      usage = data["usage"];
    }
  }
  EXPECT_EQ(blocks, message["content"]);
  ASSERT_FALSE(blocks.empty());
  EXPECT_EQ(blocks[0]["type"], "thinking");
  EXPECT_EQ(usage["output_tokens"], 6);
  // The second request's prompt was cached by the first.
  EXPECT_GT(events.front().second["message"]["usage"]["cache_read_input_tokens"].get<int>(), 0);
  EXPECT_EQ(usage["cache_read_input_tokens"],
            events.front().second["message"]["usage"]["cache_read_input_tokens"]);
}

TEST_F(WireServerTest, MessagesToolRoundTripIsServedFromTheCache) {
  StartServer();
  auto first = Post("/v1/messages", kMessages);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  const auto a = OrderedJson::parse(first->body);
  // The client ran a tool the model asked for and sends the result: the conversation so far
  // is a prefix of the new prompt.
  OrderedJson next = kMessages;
  OrderedJson assistant_content = a["content"];
  assistant_content.push_back(
      {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "Read"}, {"input", {{"path", "a"}}}});
  next["messages"].push_back({{"role", "assistant"}, {"content", assistant_content}});
  next["messages"].push_back(
      {{"role", "user"},
       {"content", {{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "hello"}}}}});
  auto second = Post("/v1/messages", next);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  const auto b = OrderedJson::parse(second->body);
  EXPECT_GE(b["usage"]["cache_read_input_tokens"].get<int64_t>(),
            a["usage"]["input_tokens"].get<int64_t>() - 1);
  // A tool_result without its tool_use: the chat encoder's complaint, as an Anthropic 400.
  OrderedJson orphan = kMessages;
  orphan["messages"] = OrderedJson::parse(R"([{"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "nope", "content": "x"}]}])");
  auto bad = Post("/v1/messages", orphan);
  ASSERT_TRUE(bad);
  if (bad->status != 200) {
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(OrderedJson::parse(bad->body)["type"], "error");
  }
}

TEST_F(WireServerTest, ErrorsComeInEachApisEnvelope) {
  StartServer("s3cret");
  // Anthropic clients authenticate with x-api-key; OpenAI clients with a Bearer token.
  auto anonymous = Post("/v1/messages", kMessages);
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  const auto e = OrderedJson::parse(anonymous->body);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "authentication_error");
  const httplib::Headers key = {{"x-api-key", "s3cret"}};
  auto keyed = Post("/v1/messages", kMessages, key);
  ASSERT_TRUE(keyed);
  EXPECT_EQ(keyed->status, 200) << keyed->body;
  auto wrong = Post("/v1/messages", kMessages, {{"x-api-key", "s3cre"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto bearer = Post("/v1/responses", {{"input", "hi"}}, {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(bearer);
  EXPECT_EQ(bearer->status, 200) << bearer->body;
  auto openai_401 = Post("/v1/responses", {{"input", "hi"}});
  ASSERT_TRUE(openai_401);
  EXPECT_EQ(openai_401->status, 401);
  EXPECT_EQ(OrderedJson::parse(openai_401->body)["error"]["code"], "invalid_api_key");

  auto malformed = client_->Post("/v1/messages", key, "{\"messages\": [", "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(OrderedJson::parse(malformed->body)["error"]["type"], "invalid_request_error");
  auto missing = client_->Post("/v1/messages/nope", key, "{}", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(OrderedJson::parse(missing->body)["error"]["type"], "not_found_error");
  OrderedJson huge = kMessages;
  huge["messages"][0]["content"][0]["text"] = std::string(20000, 'z');
  auto too_long = Post("/v1/messages", huge, key);
  ASSERT_TRUE(too_long);
  EXPECT_EQ(too_long->status, 400);
  EXPECT_EQ(OrderedJson::parse(too_long->body)["error"]["type"], "invalid_request_error");
  auto count_too_long = Post("/v1/messages/count_tokens", huge, key);
  ASSERT_TRUE(count_too_long);
  EXPECT_EQ(count_too_long->status, 400);
  auto no_input = Post("/v1/responses", {{"model", "m"}}, {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(no_input);
  EXPECT_EQ(no_input->status, 400);
  EXPECT_EQ(OrderedJson::parse(no_input->body)["error"]["param"], "input");
}

// Codex's shape, shortened: developer instructions, environment context, function tools and a
// hosted tool the engine cannot run.
const OrderedJson kResponses = OrderedJson::parse(R"({
  "model": "tiny", "stream": false, "store": false, "include": ["reasoning.encrypted_content"],
  "reasoning": {"summary": "auto"},
  "tools": [{"type": "function", "name": "exec_command", "description": "Runs a command.",
             "strict": false, "parameters": {"type": "object",
                                             "properties": {"cmd": {"type": "string"}}}},
            {"type": "web_search", "external_web_access": false}],
  "input": [
    {"type": "message", "role": "developer",
     "content": [{"type": "input_text", "text": "You are a coding agent."}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hi."}]}]})");

TEST_F(WireServerTest, ResponsesAnswerAndStreamWithCacheHits) {
  StartServer();
  auto first = Post("/v1/responses", kResponses);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  const auto a = OrderedJson::parse(first->body);
  EXPECT_EQ(a["object"], "response");
  EXPECT_EQ(a["status"], "incomplete");  // random weights run to the token cap
  EXPECT_EQ(a["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(a["usage"]["output_tokens"], 6);
  EXPECT_EQ(a["usage"]["input_tokens_details"]["cached_tokens"], 0);
  const int64_t prompt = a["usage"]["input_tokens"];
  ASSERT_FALSE(a["output"].empty());
  EXPECT_EQ(a["output"][0]["type"], "reasoning");  // thinking by default

  OrderedJson streamed_request = kResponses;
  streamed_request["stream"] = true;
  auto streamed = Post("/v1/responses", streamed_request);
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  const auto events = SseEvents(streamed->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().first, "response.created");
  EXPECT_EQ(events.back().first, "response.incomplete");
  std::string reasoning, text;
  for (const auto& [name, data] : events) {
    if (name == "response.reasoning_text.delta") reasoning += data["delta"].get<std::string>();
    if (name == "response.output_text.delta") text += data["delta"].get<std::string>();
  }
  // The same items as the non-streamed reply (ids aside: each response has its own).
  OrderedJson done = events.back().second["response"];
  OrderedJson expected_output = a["output"];
  for (auto* output : {&done["output"], &expected_output}) {
    for (auto& item : *output) item.erase("id");
  }
  EXPECT_EQ(done["output"], expected_output);
  EXPECT_EQ(reasoning, a["output"][0]["content"][0]["text"]);
  EXPECT_EQ(done["usage"]["input_tokens_details"]["cached_tokens"], prompt - 1);

  // The next turn (the reply and a new user message appended) starts with the cached prefix.
  OrderedJson next = kResponses;
  for (const auto& item : a["output"]) next["input"].push_back(item);
  next["input"].push_back({{"role", "user"}, {"content", "And again."}});
  auto third = Post("/v1/responses", next);
  ASSERT_TRUE(third);
  ASSERT_EQ(third->status, 200) << third->body;
  EXPECT_GE(OrderedJson::parse(third->body)["usage"]["input_tokens_details"]["cached_tokens"]
                .get<int64_t>(),
            prompt - 1);
}

}  // namespace
}  // namespace dsagent::engine::server
