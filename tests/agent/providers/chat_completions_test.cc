// Chat Completions: request bodies for both dialects, stream decoding and usage normalisation.
#include "agent/providers/chat_completions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/providers/chat_completions_stream.h"
#include "tests/agent/providers/recording_sink.h"
#include "tests/agent/providers/test_printers.h"

namespace dsagent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

Message ChatAssistant(std::string content, std::vector<ToolCall> calls = {},
                      std::optional<std::string> reasoning = std::nullopt) {
  Message m;
  m.role = Role::kAssistant;
  m.content = std::move(content);
  m.tool_calls = std::move(calls);
  if (reasoning) {
    m.reasoning = *reasoning;
    m.has_reasoning = true;
  }
  return m;
}

Request ChatConversation() {
  Request r;
  r.lane = {"deepseek-v4-pro", true, "max"};
  r.user_id = "repo-42";
  r.max_output_tokens = 4096;
  r.tools = {{"read_file", "Read a file",
              Json::parse(R"({"type":"object","properties":{"path":{"type":"string"}}})")}};
  r.messages = {
      SystemMessage("You are a coding agent."),
      UserMessage("Fix the bug"),
      // Arguments with unusual spacing must survive byte for byte.
      ChatAssistant("", {{"call_0", "read_file", "{\"path\": \"a.cc\" }"}}, "Need the file first."),
      ToolResultMessage("call_0", "int main() {}"),
      ChatAssistant("", {{"call_1", "read_file", "{\"path\":\"b.cc\"}"}}),  // reasoning absent
      ToolResultMessage("call_1", "int b;"),
      ChatAssistant("Fixed.", {}, "Plain turn reasoning"),
      UserMessage("Thanks, one more"),
  };
  return r;
}

TEST(ChatCompletionsRequestTest, DeepSeekBodyShape) {
  const Json body = BuildChatCompletionsBody(ChatConversation(), DeepSeekDialect(), false);
  EXPECT_EQ(body["model"], "deepseek-v4-pro");
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"], Json({{"include_usage", true}}));
  EXPECT_EQ(body["max_tokens"], 4096);
  EXPECT_EQ(body["user_id"], "repo-42");
  EXPECT_EQ(body["thinking"], Json({{"type", "enabled"}}));
  EXPECT_EQ(body["reasoning_effort"], "max");
  EXPECT_FALSE(body.contains("chat_template_kwargs"));
  ASSERT_EQ(body["tools"].size(), 1u);
  EXPECT_EQ(body["tools"][0]["type"], "function");
  EXPECT_EQ(body["tools"][0]["function"]["name"], "read_file");
  EXPECT_EQ(body["tools"][0]["function"]["description"], "Read a file");
  EXPECT_EQ(body["tools"][0]["function"]["parameters"]["properties"]["path"]["type"], "string");
}

TEST(ChatCompletionsRequestTest, ReasoningContentOnToolCallTurnsOnly) {
  const Json m = BuildChatCompletionsBody(ChatConversation(), DeepSeekDialect(), false)["messages"];
  ASSERT_EQ(m.size(), 8u);
  EXPECT_EQ(m[2]["reasoning_content"], "Need the file first.");
  EXPECT_EQ(m[2]["tool_calls"][0]["id"], "call_0");
  EXPECT_EQ(m[2]["tool_calls"][0]["function"]["arguments"], "{\"path\": \"a.cc\" }");
  EXPECT_EQ(m[4]["reasoning_content"], "");  // absent in storage: "" keeps DeepSeek satisfied
  EXPECT_FALSE(m[6].contains("reasoning_content"));  // plain-text turn: omitted
  EXPECT_EQ(m[3],
            Json({{"role", "tool"}, {"tool_call_id", "call_0"}, {"content", "int main() {}"}}));
}

TEST(ChatCompletionsRequestTest, RepairPutsReasoningOnEveryAssistantMessage) {
  const Json m = BuildChatCompletionsBody(ChatConversation(), DeepSeekDialect(), true)["messages"];
  EXPECT_EQ(m[2]["reasoning_content"], "Need the file first.");
  EXPECT_EQ(m[4]["reasoning_content"], "");
  EXPECT_EQ(m[6]["reasoning_content"], "Plain turn reasoning");
}

TEST(ChatCompletionsRequestTest, NeverTheDeveloperRole) {
  Request r = ChatConversation();
  r.messages.push_back(SystemMessage("A reminder appended later"));
  const Json body = BuildChatCompletionsBody(r, DeepSeekDialect(), false);
  for (const Json& m : body["messages"]) {
    EXPECT_THAT(m["role"].get<std::string>(),
                ::testing::AnyOf("system", "user", "assistant", "tool"));
  }
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"].back()["role"], "system");
  EXPECT_THAT(CanonicalJson(body), Not(HasSubstr("developer")));
}

TEST(ChatCompletionsRequestTest, BytesAreCanonicalAndStable) {
  const ChatCompletionsWire wire(DeepSeekDialect());
  const std::string a = wire.BuildBody(ChatConversation(), false).Bytes();
  EXPECT_EQ(a, wire.BuildBody(ChatConversation(), false).Bytes());
  EXPECT_EQ(a, Json::parse(a).dump());  // already in sorted-key, no-whitespace form
  // Top-level keys appear in sorted order.
  std::vector<size_t> positions;
  for (const char* key :
       {"\"max_tokens\"", "\"messages\"", "\"model\"", "\"reasoning_effort\"", "\"stream\"",
        "\"stream_options\"", "\"thinking\"", "\"tools\"", "\"user_id\""}) {
    positions.push_back(a.find(key));
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
  EXPECT_EQ(positions.front(), 1u);
}

TEST(ChatCompletionsRequestTest, ThinkingDisabledSendsNoEffort) {
  Request r = ChatConversation();
  r.lane.thinking = false;
  const Json body = BuildChatCompletionsBody(r, DeepSeekDialect(), false);
  EXPECT_EQ(body["thinking"], Json({{"type", "disabled"}}));
  EXPECT_FALSE(body.contains("reasoning_effort"));
}

TEST(ChatCompletionsRequestTest, OpenAiCompatibleDialect) {
  Request r = ChatConversation();
  Json body = BuildChatCompletionsBody(r, OpenAiCompatibleDialect(), false);
  EXPECT_FALSE(body.contains("thinking"));
  EXPECT_FALSE(body.contains("user_id"));
  EXPECT_EQ(body["chat_template_kwargs"], Json({{"thinking", true}}));
  EXPECT_EQ(body["reasoning_effort"], "max");
  EXPECT_EQ(body["messages"][2]["reasoning_content"], "Need the file first.");
  r.lane.thinking = false;
  body = BuildChatCompletionsBody(r, OpenAiCompatibleDialect(), false);
  EXPECT_EQ(body["chat_template_kwargs"], Json({{"thinking", false}}));
  EXPECT_FALSE(body.contains("reasoning_effort"));
}

TEST(ChatCompletionsRequestTest, OptionalFieldsOmittedWhenEmpty) {
  Request r;
  r.lane = {"deepseek-v4-flash", true, "high"};
  r.messages = {UserMessage("hi")};
  const Json body = BuildChatCompletionsBody(r, DeepSeekDialect(), false);
  EXPECT_FALSE(body.contains("tools"));
  EXPECT_FALSE(body.contains("user_id"));
}

TEST(ChatCompletionsWireTest, UrlAndHeaders) {
  const ChatCompletionsWire wire(DeepSeekDialect());
  EXPECT_EQ(wire.Url("https://api.deepseek.com"), "https://api.deepseek.com/chat/completions");
  EXPECT_THAT(wire.Headers("k"), ::testing::Contains("Authorization: Bearer k"));
  for (const auto& h : wire.Headers("")) EXPECT_THAT(h, Not(HasSubstr("Authorization")));
}

// ---- Stream decoding ----

std::string Chunk(const Json& delta, const Json& finish = nullptr,
                  const std::string& model = "deepseek-v4-pro") {
  Json c = {{"id", "chatcmpl-1"},
            {"object", "chat.completion.chunk"},
            {"created", 1},
            {"model", model},
            {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}},
            {"usage", nullptr}};
  return "data: " + c.dump() + "\n\n";
}

const char kUsageChunk[] =
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"deepseek-v4-pro\",\"choices\":[],\"usage\":{\"prompt_tokens\":10000,"
    "\"completion_tokens\":500,\"total_tokens\":10500,\"prompt_tokens_details\":"
    "{\"cached_tokens\":9000},\"prompt_cache_hit_tokens\":9000,\"prompt_cache_miss_tokens\":1000,"
    "\"completion_tokens_details\":{\"reasoning_tokens\":380}}}\n\n";

// Two tool calls whose deltas interleave by index, after reasoning and a little content.
std::string ToolCallStream() {
  std::string s = ": keep-alive\n\n";
  s += Chunk({{"role", "assistant"}, {"content", ""}});
  s += Chunk({{"content", nullptr}, {"reasoning_content", "Look at "}});
  s += Chunk({{"content", nullptr}, {"reasoning_content", "both files."}});
  s += Chunk({{"content", "Reading."}, {"reasoning_content", nullptr}});
  s += Chunk({{"tool_calls",
               {{{"index", 0},
                 {"id", "call_a"},
                 {"type", "function"},
                 {"function", {{"name", "read_file"}, {"arguments", ""}}}}}}});
  s += Chunk({{"tool_calls",
               {{{"index", 1},
                 {"id", "call_b"},
                 {"type", "function"},
                 {"function", {{"name", "grep"}, {"arguments", "{\"pat"}}}}}}});
  s += Chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "{\"path\":"}}}}}}});
  s += Chunk({{"tool_calls", {{{"index", 1}, {"function", {{"arguments", "tern\": \"x\"}"}}}}}}});
  s += Chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", " \"a.cc\"}"}}}}}}});
  s += Chunk({{"content", ""}}, "tool_calls");
  s += kUsageChunk;
  s += "data: [DONE]\n\n";
  return s;
}

void ExpectToolCallStreamDecoded(const DecodedStream& d) {
  EXPECT_TRUE(d.complete);
  EXPECT_FALSE(d.error.has_value());
  EXPECT_EQ(d.message.role, Role::kAssistant);
  EXPECT_EQ(d.message.content, "Reading.");
  EXPECT_TRUE(d.message.has_reasoning);
  EXPECT_EQ(d.message.reasoning, "Look at both files.");
  EXPECT_THAT(d.message.tool_calls,
              ElementsAre(ToolCall{"call_a", "read_file", "{\"path\": \"a.cc\"}"},
                          ToolCall{"call_b", "grep", "{\"pattern\": \"x\"}"}));
  EXPECT_EQ(d.finish_reason, "tool_calls");
  EXPECT_TRUE(d.usage_reported);
  EXPECT_EQ(d.usage, (Usage{9000, 1000, 500, 380}));
  EXPECT_EQ(d.served_model, "deepseek-v4-pro");
  EXPECT_EQ(d.response_id, "chatcmpl-1");
}

TEST(ChatCompletionsDecoderTest, AssemblesInterleavedToolCallsReasoningAndUsage) {
  RecordingSink sink;
  ChatCompletionsDecoder decoder(sink, "deepseek-v4-pro");
  EXPECT_TRUE(decoder.Feed(ToolCallStream()));
  ExpectToolCallStreamDecoded(decoder.Finish());
  EXPECT_EQ(sink.reasoning, "Look at both files.");
  EXPECT_EQ(sink.content, "Reading.");
  EXPECT_THAT(sink.tool_starts, ElementsAre(Pair("call_a", "read_file"), Pair("call_b", "grep")));
}

TEST(ChatCompletionsDecoderTest, SameResultWhateverTheNetworkSplit) {
  const std::string stream = ToolCallStream();
  for (size_t cut = 0; cut <= stream.size(); cut += 7) {
    RecordingSink sink;
    ChatCompletionsDecoder decoder(sink, "");
    decoder.Feed(std::string_view(stream).substr(0, cut));
    decoder.Feed(std::string_view(stream).substr(cut));
    ExpectToolCallStreamDecoded(decoder.Finish());
  }
}

TEST(ChatCompletionsDecoderTest, WithoutDoneTheStreamIsIncomplete) {
  RecordingSink sink;
  ChatCompletionsDecoder decoder(sink, "");
  decoder.Feed(Chunk({{"content", "partial"}}));
  const DecodedStream d = decoder.Finish();
  EXPECT_FALSE(d.complete);
  EXPECT_FALSE(d.usage_reported);
  EXPECT_EQ(d.message.content, "partial");
}

TEST(ChatCompletionsDecoderTest, ErrorObjectInsideTheStream) {
  RecordingSink sink;
  ChatCompletionsDecoder decoder(sink, "");
  decoder.Feed(Chunk({{"content", "a"}}));
  EXPECT_FALSE(decoder.Feed(
      "data: {\"error\":{\"message\":\"Server overloaded\",\"type\":\"server_error\"}}\n\n"));
  const DecodedStream d = decoder.Finish();
  ASSERT_TRUE(d.error.has_value());
  EXPECT_EQ(d.error->kind, StreamError::Kind::kServer);
  EXPECT_EQ(d.error->type, "server_error");
  EXPECT_EQ(d.error->message, "Server overloaded");
}

TEST(ChatCompletionsDecoderTest, ModelMismatchStopsBeforeAnyDelta) {
  RecordingSink sink;
  ChatCompletionsDecoder decoder(sink, "deepseek-v4-pro");
  EXPECT_FALSE(decoder.Feed(Chunk({{"content", "hello"}}, nullptr, "deepseek-v4-flash")));
  const DecodedStream d = decoder.Finish();
  ASSERT_TRUE(d.error.has_value());
  EXPECT_EQ(d.error->kind, StreamError::Kind::kModelMismatch);
  EXPECT_THAT(d.error->message, HasSubstr("deepseek-v4-pro"));
  EXPECT_THAT(d.error->message, HasSubstr("deepseek-v4-flash"));
  EXPECT_EQ(sink.content, "");
}

TEST(ChatCompletionsDecoderTest, GarbageIsAProtocolError) {
  RecordingSink sink;
  ChatCompletionsDecoder decoder(sink, "");
  EXPECT_FALSE(decoder.Feed("data: {not json\n\n"));
  const DecodedStream d = decoder.Finish();
  ASSERT_TRUE(d.error.has_value());
  EXPECT_EQ(d.error->kind, StreamError::Kind::kProtocol);
}

TEST(ChatCompletionsDecoderTest, ToolCallsWithoutIndexFromLenientServers) {
  RecordingSink sink;
  ChatCompletionsDecoder decoder(sink, "");
  decoder.Feed(
      Chunk({{"tool_calls", {{{"id", "x1"}, {"function", {{"name", "f"}, {"arguments", "{"}}}}}}}));
  decoder.Feed(Chunk({{"tool_calls", {{{"function", {{"arguments", "}"}}}}}}}));
  decoder.Feed(Chunk(
      {{"tool_calls", {{{"id", "x2"}, {"function", {{"name", "g"}, {"arguments", "[]"}}}}}}}));
  decoder.Feed("data: [DONE]\n\n");
  EXPECT_THAT(decoder.Finish().message.tool_calls,
              ElementsAre(ToolCall{"x1", "f", "{}"}, ToolCall{"x2", "g", "[]"}));
}

TEST(ChatCompletionsUsageTest, DeepSeekFields) {
  const Json u = Json::parse(R"({"prompt_tokens":100,"completion_tokens":30,
      "prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36,
      "prompt_tokens_details":{"cached_tokens":64},
      "completion_tokens_details":{"reasoning_tokens":12}})");
  EXPECT_EQ(ChatCompletionsUsage(u), (Usage{64, 36, 30, 12}));
}

TEST(ChatCompletionsUsageTest, GenericServerFallsBackToCachedTokens) {
  EXPECT_EQ(
      ChatCompletionsUsage(Json::parse(
          R"({"prompt_tokens":100,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":40}})")),
      (Usage{40, 60, 7, 0}));
  EXPECT_EQ(ChatCompletionsUsage(Json::parse(R"({"prompt_tokens":100,"completion_tokens":7})")),
            (Usage{0, 100, 7, 0}));
  EXPECT_EQ(ChatCompletionsUsage(Json::object()), Usage{});
}

}  // namespace
}  // namespace dsagent
