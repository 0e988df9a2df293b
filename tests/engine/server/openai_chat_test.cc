#include "engine/server/openai_chat.h"

#include <gtest/gtest.h>

namespace dsagent::engine::server {
namespace {

Expected<WireRequest, WireError> ParseChatBody(const std::string& body) {
  return ParseChatRequest(body, {.max_tokens = 100, .context_limit = 0});
}

TEST(OpenAiChatTest, DefaultsFollowDeepSeek) {
  auto r = ParseChatBody(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->chat.thinking);
  EXPECT_FALSE(r->stream);
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->chat.generate.max_tokens, 100);
  EXPECT_EQ(r->chat.generate.sampling.temperature, 0);
}

TEST(OpenAiChatTest, ThinkingSwitchesAndEffort) {
  auto off = ParseChatBody(R"({"messages": [{"role": "user", "content": "x"}],
                       "thinking": {"type": "disabled"}, "reasoning_effort": "max"})");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->chat.thinking);
  EXPECT_EQ(off->chat.reasoning_effort, "");
  auto kw = ParseChatBody(R"({"messages": [{"role": "user", "content": "x"}],
                      "chat_template_kwargs": {"thinking": false}})");
  ASSERT_TRUE(kw);
  EXPECT_FALSE(kw->chat.thinking);
  auto effort = ParseChatBody(R"({"messages": [{"role": "user", "content": "x"}],
                          "reasoning_effort": "xhigh"})");
  ASSERT_TRUE(effort);
  EXPECT_EQ(effort->chat.reasoning_effort, "max");
  auto low = ParseChatBody(
      R"({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"})");
  EXPECT_EQ(low->chat.reasoning_effort, "high");
}

TEST(OpenAiChatTest, SamplingStreamToolsAndContentParts) {
  auto r =
      ParseChatBody(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                                {"type": "text", "text": "b"}]}],
                     "stream": true, "stream_options": {"include_usage": true},
                     "temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 5,
                     "max_completion_tokens": 7, "stop": ["END"],
                     "tools": [{"type": "function", "function": {"name": "f"}}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->chat.messages[0]["content"], "ab");
  EXPECT_DOUBLE_EQ(r->chat.generate.sampling.temperature, 0.7);
  EXPECT_EQ(r->chat.generate.sampling.top_k, 40);
  EXPECT_EQ(r->chat.generate.sampling.seed, 5u);
  EXPECT_EQ(r->chat.generate.max_tokens, 7);
  EXPECT_EQ(r->chat.generate.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r->chat.tools.size(), 1u);
}

TEST(OpenAiChatTest, BadInputNamesTheField) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {"{", ""},
      {"[1]", ""},
      {R"({})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", "stream"},
      {R"({"messages": [{"role": "user", "content": "x"}], "ignore_eos": 1})", "ignore_eos"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": 3})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_p": 0})", "top_p"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", "tools"},
      {R"({"messages": [{"role": "user", "content": "x"}], "thinking": true})", "thinking"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": 3})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "model": 1})", "model"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": 1}}]}]})",
       "messages[0].tool_calls"},
  };
  for (const auto& c : cases) {
    auto r = ParseChatBody(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().status, 400) << c.body;
    EXPECT_EQ(r.error().param, c.param) << c.body << " -> " << r.error().message;
  }
}

TEST(OpenAiChatTest, UsageHasDeepSeeksFields) {
  const OrderedJson u = UsageJson({.prompt_tokens = 10,
                                   .prompt_cache_hit_tokens = 7,
                                   .prompt_cache_miss_tokens = 3,
                                   .completion_tokens = 5,
                                   .reasoning_tokens = 2});
  EXPECT_EQ(u["total_tokens"], 15);
  EXPECT_EQ(u["prompt_cache_hit_tokens"], 7);
  EXPECT_EQ(u["prompt_cache_miss_tokens"], 3);
  EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], 7);
  EXPECT_EQ(u["completion_tokens_details"]["reasoning_tokens"], 2);
}

TEST(OpenAiChatTest, CompletionBodyCarriesReasoningAndToolCalls) {
  ChatResult r;
  r.message.reasoning = "think";
  r.message.content = "";
  r.message.tool_calls = {{"read_file", R"({"path": "a"})"}};
  r.finish_reason = "tool_calls";
  const auto body = OrderedJson::parse(CompletionBody("id1", 1, "m", r, true));
  const auto& m = body["choices"][0]["message"];
  EXPECT_EQ(m["reasoning_content"], "think");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "read_file");
  EXPECT_EQ(m["tool_calls"][0]["id"], "call_0");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
  // Bytes that are not UTF-8 never make serialisation throw.
  r.message.content = "\xff";
  EXPECT_NO_THROW(CompletionBody("id1", 1, "m", r, false));
}

}  // namespace
}  // namespace dsagent::engine::server
