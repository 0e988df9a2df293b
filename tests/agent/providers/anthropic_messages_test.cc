// Anthropic Messages: request bodies, stream decoding and usage normalisation.
#include "agent/providers/anthropic_messages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/providers/anthropic_stream.h"
#include "tests/agent/providers/recording_sink.h"
#include "tests/agent/providers/test_printers.h"

namespace dsagent {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

Request AnthropicConversation() {
  Request r;
  r.lane = {"deepseek-v4-flash", true, "high"};
  r.user_id = "repo-7";
  r.max_output_tokens = 8192;
  r.tools = {
      {"grep", "Search", Json::parse(R"({"type":"object","properties":{"q":{"type":"string"}}})")}};
  Message call;
  call.role = Role::kAssistant;
  call.content = "Searching.";
  call.reasoning = "Find usages.";
  call.has_reasoning = true;
  call.tool_calls = {{"toolu_1", "grep", "{\"q\": \"foo\"}"},
                     {"toolu_2", "grep", "{\"q\":\"bar\"}"}};
  Message plain;
  plain.role = Role::kAssistant;
  plain.content = "Done.";
  plain.reasoning = "ok";
  plain.has_reasoning = true;
  r.messages = {SystemMessage("Be brief."),
                UserMessage("find foo"),
                call,
                ToolResultMessage("toolu_1", "a.cc:1"),
                ToolResultMessage("toolu_2", "b.cc:2"),
                plain,
                UserMessage("thanks")};
  return r;
}

TEST(AnthropicRequestTest, BodyShape) {
  const Json b = BuildAnthropicMessagesBody(AnthropicConversation(), false);
  EXPECT_EQ(b["model"], "deepseek-v4-flash");
  EXPECT_EQ(b["max_tokens"], 8192);
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["system"], "Be brief.");
  EXPECT_EQ(b["thinking"], Json({{"type", "enabled"}}));
  EXPECT_EQ(b["output_config"], Json({{"effort", "high"}}));
  EXPECT_EQ(b["metadata"], Json({{"user_id", "repo-7"}}));
  EXPECT_EQ(b["tools"][0]["name"], "grep");
  EXPECT_EQ(b["tools"][0]["description"], "Search");
  EXPECT_EQ(b["tools"][0]["input_schema"]["properties"]["q"]["type"], "string");
  EXPECT_FALSE(b.contains("reasoning_effort"));

  const Json& m = b["messages"];
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0], Json::parse(R"({"role":"user","content":[{"type":"text","text":"find foo"}]})"));
  EXPECT_EQ(m[1]["role"], "assistant");
  EXPECT_EQ(m[1]["content"],
            Json::parse(R"([{"type":"thinking","thinking":"Find usages.","signature":""},
                            {"type":"text","text":"Searching."},
                            {"type":"tool_use","id":"toolu_1","name":"grep","input":{"q":"foo"}},
                            {"type":"tool_use","id":"toolu_2","name":"grep","input":{"q":"bar"}}])"));
  // Consecutive tool results merge into one user message.
  EXPECT_EQ(m[2], Json::parse(R"({"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_1","content":"a.cc:1"},
      {"type":"tool_result","tool_use_id":"toolu_2","content":"b.cc:2"}]})"));
  // Plain-text turn: no thinking block.
  EXPECT_EQ(m[3],
            Json::parse(R"({"role":"assistant","content":[{"type":"text","text":"Done."}]})"));
  EXPECT_EQ(m[4]["role"], "user");
}

TEST(AnthropicRequestTest, RepairAddsThinkingToEveryAssistantTurn) {
  const Json m = BuildAnthropicMessagesBody(AnthropicConversation(), true)["messages"];
  EXPECT_EQ(m[3]["content"][0],
            Json::parse(R"({"type":"thinking","thinking":"ok","signature":""})"));
}

TEST(AnthropicRequestTest, ThinkingDisabledAndLateSystemMessages) {
  Request r = AnthropicConversation();
  r.lane.thinking = false;
  r.user_id.clear();
  r.messages.push_back(SystemMessage("reminder"));
  const Json b = BuildAnthropicMessagesBody(r, false);
  EXPECT_EQ(b["thinking"], Json({{"type", "disabled"}}));
  EXPECT_FALSE(b.contains("output_config"));
  EXPECT_FALSE(b.contains("metadata"));
  EXPECT_EQ(b["messages"].back(),
            Json::parse(R"({"role":"user","content":[{"type":"text","text":"reminder"}]})"));
}

TEST(AnthropicWireTest, UrlHeadersAndCanonicalBytes) {
  const AnthropicMessagesWire wire;
  EXPECT_EQ(wire.Url("https://api.deepseek.com"), "https://api.deepseek.com/anthropic/v1/messages");
  EXPECT_THAT(wire.Headers("k"),
              ::testing::IsSupersetOf({"x-api-key: k", "anthropic-version: 2023-06-01",
                                       "content-type: application/json"}));
  const std::string a = wire.BuildBody(AnthropicConversation(), false).Bytes();
  EXPECT_EQ(a, wire.BuildBody(AnthropicConversation(), false).Bytes());
  EXPECT_EQ(a, Json::parse(a).dump());
}

// ---- Stream decoding ----

std::string Event(const std::string& name, const std::string& data) {
  return "event: " + name + "\ndata: " + data + "\n\n";
}

std::string ToolUseStream() {
  std::string s;
  s += Event(
      "message_start",
      R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",)"
      R"("model":"deepseek-v4-flash","content":[],"stop_reason":null,"usage":{"input_tokens":10,)"
      R"("cache_read_input_tokens":90,"cache_creation_input_tokens":5,"output_tokens":1}}})");
  s += Event("ping", R"({"type":"ping"})");
  s += Event(
      "content_block_start",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})");
  s += Event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}})");
  s += Event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"look."}})");
  s += Event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}})");
  s += Event("content_block_stop", R"({"type":"content_block_stop","index":0})");
  s += Event(
      "content_block_start",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})");
  s += Event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"On it."}})");
  s += Event("content_block_stop", R"({"type":"content_block_stop","index":1})");
  s += Event(
      "content_block_start",
      R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_9","name":"grep","input":{}}})");
  s += Event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"q\": "}})");
  s += Event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"foo\"}"}})");
  s += Event("content_block_stop", R"({"type":"content_block_stop","index":2})");
  s += Event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}})");
  s += Event("message_stop", R"({"type":"message_stop"})");
  return s;
}

TEST(AnthropicDecoderTest, AssemblesThinkingTextAndToolUse) {
  const std::string stream = ToolUseStream();
  for (size_t cut = 0; cut <= stream.size(); cut += 5) {
    RecordingSink sink;
    AnthropicStreamDecoder decoder(sink, "deepseek-v4-flash");
    decoder.Feed(std::string_view(stream).substr(0, cut));
    decoder.Feed(std::string_view(stream).substr(cut));
    const DecodedStream d = decoder.Finish();
    ASSERT_FALSE(d.error.has_value()) << d.error->message;
    EXPECT_TRUE(d.complete);
    EXPECT_EQ(d.message.reasoning, "Let me look.");
    EXPECT_TRUE(d.message.has_reasoning);
    EXPECT_EQ(d.message.content, "On it.");
    EXPECT_THAT(d.message.tool_calls, ElementsAre(ToolCall{"toolu_9", "grep", "{\"q\": \"foo\"}"}));
    EXPECT_EQ(d.finish_reason, "tool_calls");
    EXPECT_EQ(d.usage, (Usage{90, 15, 42, 0}));
    EXPECT_EQ(d.served_model, "deepseek-v4-flash");
    EXPECT_EQ(d.response_id, "msg_1");
    EXPECT_EQ(sink.reasoning, "Let me look.");
    EXPECT_EQ(sink.content, "On it.");
    EXPECT_THAT(sink.tool_starts, ElementsAre(Pair("toolu_9", "grep")));
  }
}

TEST(AnthropicDecoderTest, WholeInputWithoutDeltasBecomesCanonicalJson) {
  RecordingSink sink;
  AnthropicStreamDecoder decoder(sink, "");
  decoder.Feed(Event("content_block_start",
                     R"({"type":"content_block_start","index":0,"content_block":)"
                     R"({"type":"tool_use","id":"t","name":"f","input":{"b":1,"a":[2]}}})"));
  decoder.Feed(Event("message_stop", R"({"type":"message_stop"})"));
  const DecodedStream d = decoder.Finish();
  EXPECT_THAT(d.message.tool_calls, ElementsAre(ToolCall{"t", "f", R"({"a":[2],"b":1})"}));
  EXPECT_FALSE(d.usage_reported);
}

TEST(AnthropicDecoderTest, ErrorEventAndModelMismatch) {
  RecordingSink sink;
  AnthropicStreamDecoder decoder(sink, "");
  EXPECT_FALSE(decoder.Feed(Event(
      "error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})")));
  DecodedStream d = decoder.Finish();
  ASSERT_TRUE(d.error.has_value());
  EXPECT_EQ(d.error->kind, StreamError::Kind::kServer);
  EXPECT_EQ(d.error->type, "overloaded_error");

  AnthropicStreamDecoder strict(sink, "deepseek-v4-pro");
  EXPECT_FALSE(strict.Feed(ToolUseStream()));
  d = strict.Finish();
  ASSERT_TRUE(d.error.has_value());
  EXPECT_EQ(d.error->kind, StreamError::Kind::kModelMismatch);
  EXPECT_EQ(sink.content, "");
}

TEST(AnthropicUsageTest, CacheFieldsNormalised) {
  EXPECT_EQ(AnthropicUsage(Json::parse(R"({"input_tokens":3,"cache_read_input_tokens":97,)"
                                       R"("cache_creation_input_tokens":0,"output_tokens":8})")),
            (Usage{97, 3, 8, 0}));
  EXPECT_EQ(AnthropicUsage(Json::parse(R"({"input_tokens":50,"output_tokens":2})")),
            (Usage{0, 50, 2, 0}));
}

TEST(AnthropicUsageTest, StopReasonMapping) {
  EXPECT_EQ(FinishReasonFromStopReason("tool_use"), "tool_calls");
  EXPECT_EQ(FinishReasonFromStopReason("end_turn"), "stop");
  EXPECT_EQ(FinishReasonFromStopReason("max_tokens"), "length");
  EXPECT_EQ(FinishReasonFromStopReason("stop_sequence"), "stop");
  EXPECT_EQ(FinishReasonFromStopReason("refusal"), "refusal");
}

}  // namespace
}  // namespace dsagent
