// The Anthropic Messages wire format: requests -> engine messages, results -> bodies and events.
#include "engine/server/anthropic_messages.h"

#include <gtest/gtest.h>

#include "tests/engine/server/sse_events.h"
#include "tests/engine/server/tool_call_result.h"

namespace dsagent::engine::server {
namespace {

using testing::SseEvents;

Expected<WireRequest, WireError> ParseMessagesRequest(const std::string& body) {
  return AnthropicMessagesFormat().Parse(body, {.max_tokens = 100, .max_tokens_limit = 50});
}

TEST(AnthropicMessagesTest, SystemBlocksUserBlocksAndDefaults) {
  auto r = ParseMessagesRequest(R"({"model": "claude-x", "max_tokens": 20,
      "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.1.a1;"},
                 {"type": "text", "text": "A"}, {"type": "text", "text": "B",
                  "cache_control": {"type": "ephemeral"}}],
      "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                {"type": "text", "text": "there"}]}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "claude-x");
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->chat.thinking);  // Anthropic's default: no thinking unless asked
  EXPECT_EQ(r->chat.generate.max_tokens, 20);
  const OrderedJson expected = OrderedJson::parse(R"([{"role": "system", "content": "A\n\nB"},
                                                      {"role": "user", "content": "hi\n\nthere"}])");
  EXPECT_EQ(r->chat.messages, expected);
}

TEST(AnthropicMessagesTest, MaxTokensIsCappedAndThinkingSwitchesOn) {
  auto r = ParseMessagesRequest(R"({"max_tokens": 32000, "thinking": {"type": "adaptive"},
                     "output_config": {"effort": "max"}, "stream": true,
                     "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->chat.generate.max_tokens, 50);  // the server's max_tokens_limit
  EXPECT_TRUE(r->chat.thinking);
  EXPECT_EQ(r->chat.reasoning_effort, "max");
  EXPECT_TRUE(r->stream);
  auto enabled = ParseMessagesRequest(R"({"thinking": {"type": "enabled", "budget_tokens": 2048},
                           "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_TRUE(enabled);
  EXPECT_TRUE(enabled->chat.thinking);
  EXPECT_EQ(enabled->chat.generate.max_tokens, 50);  // the default (100), capped
  EXPECT_EQ(enabled->chat.thinking_budget, 2048);
}

TEST(AnthropicMessagesTest, ToolUseAndToolResultRoundTripIntoEngineMessages) {
  auto r = ParseMessagesRequest(
      R"({"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024},
      "tools": [{"name": "read_file", "description": "Reads.", "input_schema":
                 {"type": "object", "properties": {"path": {"type": "string"}}}}],
      "messages": [
        {"role": "user", "content": "read a"},
        {"role": "assistant", "content": [
           {"type": "thinking", "thinking": "I should read.", "signature": "s"},
           {"type": "text", "text": "Reading."},
           {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a"}}]},
        {"role": "user", "content": [
           {"type": "tool_result", "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": "contents"},
                        {"type": "image", "source": {"type": "base64", "data": ""}}]},
           {"type": "text", "text": "now summarise"}]},
        {"role": "system", "content": "mid-conversation note"}]})");
  ASSERT_TRUE(r) << r.error().message;
  const OrderedJson expected = OrderedJson::parse(R"([
    {"role": "user", "content": "read a"},
    {"role": "assistant", "content": "Reading.", "reasoning_content": "I should read.",
     "tool_calls": [{"id": "toolu_1", "type": "function",
                     "function": {"name": "read_file", "arguments": "{\"path\":\"a\"}"}}]},
    {"role": "tool", "tool_call_id": "toolu_1",
     "content": "contents\n\n[image not shown: the local model reads text only]"},
    {"role": "user", "content": "now summarise\n\nmid-conversation note"}])");
  EXPECT_EQ(r->chat.messages, expected);
  const OrderedJson tools = OrderedJson::parse(R"([{"type": "function", "function": {
      "name": "read_file", "description": "Reads.",
      "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}])");
  EXPECT_EQ(r->chat.tools, tools);
  // The engine renders the conversation (the tool result follows its call).
  EXPECT_TRUE(RenderChatPrompt(r->chat)) << RenderChatPrompt(r->chat).error();

  auto none = ParseMessagesRequest(R"({"tool_choice": {"type": "none"},
      "tools": [{"name": "f", "input_schema": {"type": "object"}}],
      "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->chat.tools.is_null());
  EXPECT_EQ(none->chat.tool_choice.mode, ToolChoice::Mode::kNone);
  auto forced = ParseMessagesRequest(R"({"tool_choice": {"type": "tool", "name": "f",
      "disable_parallel_tool_use": true},
      "tools": [{"name": "f", "input_schema": {"type": "object"}}],
      "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_EQ(forced->chat.tool_choice.mode, ToolChoice::Mode::kNamed);
  EXPECT_EQ(forced->chat.tool_choice.name, "f");
  EXPECT_FALSE(forced->chat.parallel_tool_calls);
}

TEST(AnthropicMessagesTest, BadInputNamesTheFieldInAnthropicsEnvelope) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {"{", ""},
      {R"({"messages": []})", "messages"},
      {R"({"messages": [{"role": "tool", "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]})",
       "messages[0].content[0]"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "system": 3})", "system"},
      {R"({"messages": [{"role": "user", "content": "x"}], "thinking": {"type": "on"}})",
       "thinking"},
      {R"({"messages": [{"role": "user", "content": "x"}],
           "tools": [{"type": "web_search_20250305", "name": "web_search"}]})",
       "tools[0]"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop_sequences": "END"})",
       "stop_sequences"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", "temperature"},
  };
  for (const auto& c : cases) {
    auto r = ParseMessagesRequest(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().status, 400) << c.body;
    EXPECT_EQ(r.error().param, c.param) << c.body << " -> " << r.error().message;
    const auto body = OrderedJson::parse(AnthropicMessagesFormat().ErrorBody(r.error()));
    EXPECT_EQ(body["type"], "error");
    EXPECT_EQ(body["error"]["type"], "invalid_request_error");
    EXPECT_FALSE(body["error"].contains("code")) << "the type says it already";
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  }
  const auto busy =
      OrderedJson::parse(AnthropicMessagesFormat().ErrorBody({503, "busy", "server_busy", ""}));
  EXPECT_EQ(busy["error"]["type"], "overloaded_error");
  EXPECT_EQ(busy["error"]["code"], "server_busy");
  // A lost engine's 503 is no overload (a retry cannot help).
  const auto lost = OrderedJson::parse(
      AnthropicMessagesFormat().ErrorBody({503, "lost", kEngineUnavailable, ""}));
  EXPECT_EQ(lost["error"]["type"], "api_error");
  EXPECT_EQ(lost["error"]["code"], "engine_unavailable");
  EXPECT_EQ(AnthropicErrorType(401), std::string("authentication_error"));
  EXPECT_EQ(AnthropicErrorType(404), std::string("not_found_error"));
}

ChatResult MessagesToolCallResult() {
  return testing::ToolCallResult("Let me look.", "read_file", R"({"path": "a"})");
}

TEST(AnthropicMessagesTest, BodyHasBlocksStopReasonAndCacheUsage) {
  WireRequest request;
  request.chat.thinking = true;
  const ResponseInfo info{.id = "msg_abc", .created = 1, .model = "m"};
  const auto body =
      OrderedJson::parse(AnthropicMessagesFormat().Body(request, info, MessagesToolCallResult()));
  EXPECT_EQ(body["type"], "message");
  EXPECT_EQ(body["role"], "assistant");
  EXPECT_EQ(body["stop_reason"], "tool_use");
  ASSERT_EQ(body["content"].size(), 3u);
  EXPECT_EQ(body["content"][0]["type"], "thinking");
  EXPECT_EQ(body["content"][0]["thinking"], "think");
  EXPECT_FALSE(body["content"][0]["signature"].get<std::string>().empty());
  EXPECT_EQ(body["content"][1]["text"], "Let me look.");
  EXPECT_EQ(body["content"][2]["type"], "tool_use");
  EXPECT_EQ(body["content"][2]["id"], "toolu_abc_0");
  EXPECT_EQ(body["content"][2]["input"], OrderedJson({{"path", "a"}}));
  EXPECT_EQ(body["usage"]["input_tokens"], 3);
  EXPECT_EQ(body["usage"]["cache_read_input_tokens"], 7);
  EXPECT_EQ(body["usage"]["cache_creation_input_tokens"], 0);
  EXPECT_EQ(body["usage"]["output_tokens"], 5);

  ChatResult stopped;
  stopped.message.content = "abc";
  stopped.finish_reason = "stop";
  stopped.generation.finish = FinishReason::kStopString;
  stopped.generation.matched_stop = "END";
  const auto s = OrderedJson::parse(AnthropicMessagesFormat().Body(request, info, stopped));
  EXPECT_EQ(s["stop_reason"], "stop_sequence");
  EXPECT_EQ(s["stop_sequence"], "END");
  stopped.generation.finish = FinishReason::kLength;
  stopped.finish_reason = "length";
  EXPECT_EQ(
      OrderedJson::parse(AnthropicMessagesFormat().Body(request, info, stopped))["stop_reason"],
      "max_tokens");
  stopped.generation.finish = FinishReason::kStopToken;
  stopped.finish_reason = "stop";
  EXPECT_EQ(
      OrderedJson::parse(AnthropicMessagesFormat().Body(request, info, stopped))["stop_reason"],
      "end_turn");
}

TEST(AnthropicMessagesTest, StreamEmitsTheEventGrammarWithInputJsonDeltas) {
  WireRequest request;
  request.chat.thinking = true;
  auto stream = AnthropicMessagesFormat().Stream(request, {.id = "msg_abc", .model = "m"});
  const ChatResult r = MessagesToolCallResult();
  std::string sse = stream->Begin(r.usage);
  sse += stream->Delta({.reasoning = "thi", .content = ""});
  sse += stream->Delta({.reasoning = "nk", .content = "Let me"});
  sse += stream->Delta({.reasoning = "", .content = " look."});
  sse += stream->End(r);
  const auto events = SseEvents(sse);
  std::vector<std::string> names;
  for (const auto& [name, data] : events) {
    names.push_back(name);
    EXPECT_EQ(data["type"], name);  // Anthropic repeats the event name as `type`
  }
  const std::vector<std::string> expected = {"message_start",       "ping",
                                             "content_block_start", "content_block_delta",
                                             "content_block_delta", "content_block_delta",
                                             "content_block_stop",  "content_block_start",
                                             "content_block_delta", "content_block_delta",
                                             "content_block_stop",  "content_block_start",
                                             "content_block_delta", "content_block_stop",
                                             "message_delta",       "message_stop"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(events[0].second["message"]["usage"]["cache_read_input_tokens"], 7);
  EXPECT_EQ(events[2].second["content_block"]["type"], "thinking");
  EXPECT_EQ(events[5].second["delta"]["type"], "signature_delta");
  EXPECT_EQ(events[7].second["index"], 1);
  EXPECT_EQ(events[7].second["content_block"]["type"], "text");
  EXPECT_EQ(events[9].second["delta"]["text"], " look.");
  EXPECT_EQ(events[11].second["content_block"]["type"], "tool_use");
  EXPECT_EQ(events[11].second["content_block"]["name"], "read_file");
  EXPECT_EQ(events[11].second["index"], 2);
  EXPECT_EQ(events[12].second["delta"]["type"], "input_json_delta");
  EXPECT_EQ(OrderedJson::parse(events[12].second["delta"]["partial_json"].get<std::string>()),
            OrderedJson({{"path", "a"}}));
  EXPECT_EQ(events[14].second["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(events[14].second["usage"]["output_tokens"], 5);

  const auto error = SseEvents(stream->Error({500, "boom", "internal_error", ""}));
  ASSERT_EQ(error.size(), 1u);
  EXPECT_EQ(error[0].first, "error");
  EXPECT_EQ(error[0].second["error"]["type"], "api_error");
}

}  // namespace
}  // namespace dsagent::engine::server
