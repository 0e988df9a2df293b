// The OpenAI Responses wire format: requests -> engine messages, results -> bodies and events.
#include "engine/server/openai_responses.h"

#include <gtest/gtest.h>

#include "tests/engine/server/sse_events.h"
#include "tests/engine/server/tool_call_result.h"

namespace dsagent::engine::server {
namespace {

using testing::SseEvents;

Expected<WireRequest, WireError> ParseResponsesRequest(const std::string& body) {
  return OpenAIResponsesFormat().Parse(body, {.max_tokens = 100, .max_tokens_limit = 50});
}

TEST(OpenAIResponsesTest, StringInputInstructionsAndDefaults) {
  auto r = ParseResponsesRequest(R"({"model": "m", "instructions": "Be brief.", "input": "hi"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_TRUE(r->chat.thinking);               // reasoning on unless effort is none
  EXPECT_EQ(r->chat.generate.max_tokens, 50);  // the default (100), capped at the limit
  const OrderedJson expected = OrderedJson::parse(
      R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])");
  EXPECT_EQ(r->chat.messages, expected);
  auto off = ParseResponsesRequest(
      R"({"input": "hi", "reasoning": {"effort": "none"}, "max_output_tokens": 7})");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->chat.thinking);
  EXPECT_EQ(off->chat.generate.max_tokens, 7);
  auto xhigh = ParseResponsesRequest(
      R"({"input": "hi", "reasoning": {"effort": "xhigh", "summary": "auto"}})");
  ASSERT_TRUE(xhigh);
  EXPECT_EQ(xhigh->chat.reasoning_effort, "max");
}

TEST(OpenAIResponsesTest, ItemsRoundTripToolCallsAndKeepOnlyFunctionTools) {
  // The shape Codex sends: developer messages first, then user context, then the history.
  auto r = ParseResponsesRequest(R"({"stream": true, "include": ["reasoning.encrypted_content"],
      "tools": [{"type": "function", "name": "exec_command", "description": "Runs.",
                 "strict": false, "parameters": {"type": "object", "properties": {}}},
                {"type": "web_search", "external_web_access": false},
                {"type": "namespace", "name": "multi_agent_v1", "tools": []}],
      "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "D1"}]},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "D2"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ctx"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "thought"},
        {"type": "function_call", "call_id": "call_1", "name": "exec_command",
         "arguments": "{\"cmd\":\"ls\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "One file."}]},
        {"role": "user", "content": "thanks"}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->stream);
  const OrderedJson expected = OrderedJson::parse(R"([
    {"role": "system", "content": "D1\n\nD2"},
    {"role": "user", "content": "ctx\n\nls"},
    {"role": "assistant", "content": "", "reasoning_content": "thought",
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
    {"role": "assistant", "content": "One file."},
    {"role": "user", "content": "thanks"}])");
  EXPECT_EQ(r->chat.messages, expected);
  ASSERT_EQ(r->chat.tools.size(), 1u);
  EXPECT_EQ(r->chat.tools[0]["function"]["name"], "exec_command");
  EXPECT_TRUE(RenderChatPrompt(r->chat)) << RenderChatPrompt(r->chat).error();
}

TEST(OpenAIResponsesTest, BadInputNamesTheField) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {"{", ""},
      {R"({})", "input"},
      {R"({"input": []})", "input"},
      {R"({"input": "x", "previous_response_id": "resp_1"})", "previous_response_id"},
      {R"({"input": [{"type": "item_reference", "id": "x"}]})", "input[0].type"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]})",
       "input[0].content[0]"},
      {R"({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]})",
       "input[0].call_id"},
      {R"({"input": "x", "max_output_tokens": 0})", "max_output_tokens"},
      {R"({"input": "x", "reasoning": {"effort": "huge"}})", "reasoning.effort"},
      {R"({"input": "x", "instructions": 1})", "instructions"},
  };
  for (const auto& c : cases) {
    auto r = ParseResponsesRequest(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().status, 400) << c.body;
    EXPECT_EQ(r.error().param, c.param) << c.body << " -> " << r.error().message;
    const auto body = OrderedJson::parse(OpenAIResponsesFormat().ErrorBody(r.error()));
    EXPECT_EQ(body["error"]["param"], c.param[0] ? OrderedJson(c.param) : OrderedJson());
  }
}

ChatResult ResponsesToolCallResult() {
  return testing::ToolCallResult("Running it.", "exec_command", R"({"cmd": "ls"})");
}

TEST(OpenAIResponsesTest, BodyHasItemsStatusAndUsage) {
  WireRequest request;
  request.chat.thinking = true;
  request.echo = {{"instructions", "I"}};
  const ResponseInfo info{.id = "resp_x", .created = 3, .model = "m"};
  const auto body =
      OrderedJson::parse(OpenAIResponsesFormat().Body(request, info, ResponsesToolCallResult()));
  EXPECT_EQ(body["object"], "response");
  EXPECT_EQ(body["status"], "completed");
  EXPECT_EQ(body["instructions"], "I");
  ASSERT_EQ(body["output"].size(), 3u);
  EXPECT_EQ(body["output"][0]["type"], "reasoning");
  EXPECT_EQ(body["output"][0]["content"][0]["text"], "think");
  EXPECT_EQ(body["output"][1]["type"], "message");
  EXPECT_EQ(body["output"][1]["content"][0]["type"], "output_text");
  EXPECT_EQ(body["output"][1]["content"][0]["text"], "Running it.");
  EXPECT_EQ(body["output"][2]["type"], "function_call");
  EXPECT_EQ(body["output"][2]["call_id"], "call_x_2");
  EXPECT_EQ(body["output"][2]["arguments"], R"({"cmd": "ls"})");
  EXPECT_EQ(body["usage"]["input_tokens"], 10);
  EXPECT_EQ(body["usage"]["input_tokens_details"]["cached_tokens"], 7);
  EXPECT_EQ(body["usage"]["output_tokens_details"]["reasoning_tokens"], 2);
  EXPECT_EQ(body["usage"]["total_tokens"], 15);

  ChatResult cut;
  cut.message.content = "abc";
  cut.finish_reason = "length";
  const auto incomplete = OrderedJson::parse(OpenAIResponsesFormat().Body(request, info, cut));
  EXPECT_EQ(incomplete["status"], "incomplete");
  EXPECT_EQ(incomplete["incomplete_details"]["reason"], "max_output_tokens");
}

TEST(OpenAIResponsesTest, StreamEmitsItemsDeltasAndCompleted) {
  WireRequest request;
  request.chat.thinking = true;
  request.echo = {{"include", {"reasoning.encrypted_content"}}};
  auto stream = OpenAIResponsesFormat().Stream(request, {.id = "resp_x", .model = "m"});
  const ChatResult r = ResponsesToolCallResult();
  std::string sse = stream->Begin(r.usage);
  sse += stream->Delta({.reasoning = "think", .content = "Running"});
  sse += stream->Delta({.reasoning = "", .content = " it."});
  sse += stream->End(r);
  const auto events = SseEvents(sse);
  std::vector<std::string> names;
  for (size_t i = 0; i < events.size(); ++i) {
    names.push_back(events[i].first);
    EXPECT_EQ(events[i].second["type"], events[i].first);
    EXPECT_EQ(events[i].second["sequence_number"], i);
  }
  const std::vector<std::string> expected = {"response.created",
                                             "response.in_progress",
                                             "response.output_item.added",
                                             "response.reasoning_text.delta",
                                             "response.reasoning_text.done",
                                             "response.output_item.done",
                                             "response.output_item.added",
                                             "response.content_part.added",
                                             "response.output_text.delta",
                                             "response.output_text.delta",
                                             "response.output_text.done",
                                             "response.content_part.done",
                                             "response.output_item.done",
                                             "response.output_item.added",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.done",
                                             "response.output_item.done",
                                             "response.completed"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(events[5].second["item"]["encrypted_content"], "think");  // asked for in `include`
  EXPECT_EQ(events[10].second["text"], "Running it.");
  EXPECT_EQ(events[13].second["output_index"], 2);
  EXPECT_EQ(events[14].second["delta"], R"({"cmd": "ls"})");
  const auto& done = events.back().second["response"];
  EXPECT_EQ(done["status"], "completed");
  ASSERT_EQ(done["output"].size(), 3u);
  EXPECT_EQ(done["output"][2]["name"], "exec_command");
  EXPECT_EQ(done["usage"]["input_tokens_details"]["cached_tokens"], 7);

  auto failing = OpenAIResponsesFormat().Stream(request, {.id = "resp_y", .model = "m"});
  const auto failed = SseEvents(failing->Error({503, "busy", "server_busy", ""}));
  ASSERT_FALSE(failed.empty());
  EXPECT_EQ(failed.back().first, "response.failed");
  EXPECT_EQ(failed.back().second["response"]["error"]["code"], "server_busy");
}

}  // namespace
}  // namespace dsagent::engine::server
