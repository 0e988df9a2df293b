#include "engine/generate/chat_completion.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/engine/generate/tiny_model.h"

namespace dsagent::engine {
namespace {
using testing::TinySequenceModel;
using testing::TinyTokenizer;

ChatRequest Request(const char* messages_json, bool thinking, int64_t max_tokens = 12) {
  ChatRequest r;
  r.messages = OrderedJson::parse(messages_json);
  r.thinking = thinking;
  r.generate.max_tokens = max_tokens;
  return r;
}

constexpr const char* kConversation =
    R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}])";

TEST(ChatCompletionTest, UsageCountsThePromptAndTheCompletion) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  const ChatRequest req = Request(kConversation, false);
  auto r = chat.Complete(req);
  ASSERT_TRUE(r) << r.error().message;
  auto prompt = RenderChatPrompt(req);
  ASSERT_TRUE(prompt);
  EXPECT_EQ(r->usage.prompt_tokens, static_cast<int64_t>(TinyTokenizer().Encode(*prompt).size()));
  EXPECT_EQ(r->usage.prompt_cache_hit_tokens, 0);
  EXPECT_EQ(r->usage.prompt_cache_miss_tokens, r->usage.prompt_tokens);
  EXPECT_EQ(r->usage.completion_tokens, static_cast<int64_t>(r->generation.tokens.size()));
  EXPECT_EQ(r->usage.reasoning_tokens, 0);  // chat mode
  EXPECT_TRUE(r->finish_reason == "length" || r->finish_reason == "stop") << r->finish_reason;
}

// The random-weight model ends "Hello!" with EOS well before 1500 tokens (thinking mode, greedy);
// with ignore_eos the same greedy reply goes on to max_tokens, EOS included as a plain token.
TEST(ChatCompletionTest, IgnoreEosGeneratesToMaxTokens) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  ChatRequest req = Request(R"([{"role": "user", "content": "Hello!"}])", true, 1500);
  req.generate.context_limit = 4096;  // past the tiny config's 512 positions, as the server tests
  auto stopped = chat.Complete(req);
  ASSERT_TRUE(stopped) << stopped.error().message;
  ASSERT_EQ(stopped->finish_reason, "stop");
  const std::vector<int32_t>& first = stopped->generation.tokens;
  ASSERT_LT(first.size(), 1500u);
  req.ignore_eos = true;
  auto full = chat.Complete(req);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->finish_reason, "length");
  EXPECT_EQ(full->usage.completion_tokens, 1500);
  ASSERT_GE(full->generation.tokens.size(), first.size());
  EXPECT_TRUE(std::equal(first.begin(), first.end(), full->generation.tokens.begin()));
}

TEST(ChatCompletionTest, ThinkingModeCountsReasoningTokens) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  auto r = chat.Complete(Request(kConversation, true));
  ASSERT_TRUE(r) << r.error().message;
  const auto& t = r->generation.tokens;
  const auto end = std::find(t.begin(), t.end(), TinyTokenizer().TokenId("</think>"));
  const int64_t expected =
      end == t.end() ? static_cast<int64_t>(t.size()) : static_cast<int64_t>(end - t.begin()) + 1;
  EXPECT_EQ(r->usage.reasoning_tokens, expected);
}

TEST(ChatCompletionTest, RepeatedAndFollowUpPromptsHitTheCacheAndMatchAColdRun) {
  InMemoryPrefixCache cache;
  ChatCompleter cached(TinySequenceModel(), TinyTokenizer(), &cache);
  ChatCompleter cold(TinySequenceModel(), TinyTokenizer(), nullptr);
  const ChatRequest req = Request(kConversation, true);
  auto first = cached.Complete(req);
  ASSERT_TRUE(first) << first.error().message;
  auto second = cached.Complete(req);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->usage.prompt_cache_hit_tokens, second->usage.prompt_tokens - 1);
  EXPECT_EQ(second->usage.prompt_cache_miss_tokens, 1);
  EXPECT_EQ(second->generation.tokens, first->generation.tokens);

  // A follow-up turn (tools keep the reasoning, so the old prompt stays a prefix).
  ChatRequest follow = Request(R"([
    {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
    {"role": "assistant", "reasoning_content": "r", "content": "ok"},
    {"role": "user", "content": "And now?"}])",
                               true);
  follow.tools = OrderedJson::parse(
      R"([{"type": "function", "function": {"name": "noop", "parameters": {}}}])");
  follow.generate.context_limit = 4096;  // the tools block alone is ~500 tiny-tokenizer tokens
  ChatRequest before = req;
  before.tools = follow.tools;
  before.generate.context_limit = 4096;
  auto base = cached.Complete(before);
  ASSERT_TRUE(base);
  auto warm = cached.Complete(follow);
  ASSERT_TRUE(warm) << warm.error().message;
  EXPECT_GE(warm->usage.prompt_cache_hit_tokens, base->usage.prompt_tokens - 1);
  auto reference = cold.Complete(follow);
  ASSERT_TRUE(reference);
  EXPECT_EQ(warm->generation.tokens, reference->generation.tokens);
  EXPECT_EQ(reference->usage.prompt_cache_hit_tokens, 0);
}

TEST(ChatCompletionTest, APrefillCancelledPartWayIsKeptForTheRetry) {
  // A prompt of several prefill chunks (the tools block is ~500 tiny-tokenizer tokens).
  ChatRequest req = Request(kConversation, true);
  req.tools = OrderedJson::parse(R"([{"type": "function", "function": {"name": "noop",
      "description": "Does nothing at all, and says so at some length.", "parameters": {}}}])");
  req.generate.context_limit = 4096;
  InMemoryPrefixCache cache;
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), &cache);
  auto prompt = chat.PromptTokens(req);
  ASSERT_TRUE(prompt);
  ASSERT_GT(prompt->size(), 2 * kPrefillChunkTokens + 1);
  // The client gives up after two chunks (the hook runs after each one).
  ChatRequest abandoned = req;
  abandoned.generate.cancel = CancelToken();  // copies share the flag
  int chunks = 0;
  abandoned.generate.on_prefill_chunk = [&] {
    if (++chunks == 2) abandoned.generate.cancel.Cancel();
  };
  auto cut = chat.Complete(abandoned, *prompt, {});
  ASSERT_TRUE(cut) << cut.error().message;
  EXPECT_TRUE(cut->cancelled);
  EXPECT_EQ(chunks, 2);
  // The retry starts where the abandoned one stopped, and answers as a cold run does.
  auto retry = chat.Complete(req);
  ASSERT_TRUE(retry) << retry.error().message;
  EXPECT_EQ(retry->usage.prompt_cache_hit_tokens, static_cast<int64_t>(2 * kPrefillChunkTokens));
  ChatCompleter cold(TinySequenceModel(), TinyTokenizer(), nullptr);
  auto reference = cold.Complete(req);
  ASSERT_TRUE(reference);
  EXPECT_EQ(retry->generation.tokens, reference->generation.tokens);
}

TEST(ChatCompletionTest, StreamedDeltasAddUpToTheMessage) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  std::string reasoning, content;
  auto r = chat.Complete(Request(kConversation, true, 40), [&](const auto& d) {
    reasoning += d.reasoning;
    content += d.content;
    return true;
  });
  ASSERT_TRUE(r);
  if (r->parse_error.empty()) {
    EXPECT_EQ(reasoning, r->message.reasoning);
    EXPECT_EQ(content, r->message.content);
  }
}

TEST(ChatCompletionTest, ToolsGoIntoTheSystemMessage) {
  ChatRequest req = Request(R"([{"role": "user", "content": "x"}])", false);
  req.tools = OrderedJson::parse(
      R"([{"type": "function", "function": {"name": "read_file", "parameters": {}}}])");
  auto prompt = RenderChatPrompt(req);
  ASSERT_TRUE(prompt) << prompt.error();
  EXPECT_EQ(prompt->find("<｜begin▁of▁sentence｜>\n\n## Tools"), 0u) << *prompt;
  EXPECT_NE(prompt->find("\"name\": \"read_file\""), std::string::npos);
  EXPECT_NE(prompt->rfind("<｜User｜>x<｜Assistant｜></think>"), std::string::npos);
}

TEST(ChatCompletionTest, BadRequestsAreErrorsNotCrashes) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  auto bad_role = chat.Complete(Request(R"([{"role": "wizard", "content": "x"}])", false));
  ASSERT_FALSE(bad_role);
  EXPECT_EQ(bad_role.error().kind, ChatError::Kind::kBadRequest);
  ChatRequest big = Request(kConversation, false);
  big.messages[1]["content"] = std::string(4000, 'q');
  auto overflow = chat.Complete(big);
  ASSERT_FALSE(overflow);
  EXPECT_EQ(overflow.error().kind, ChatError::Kind::kContextOverflow);
  EXPECT_NE(overflow.error().message.find("512"), std::string::npos);
}

}  // namespace
}  // namespace dsagent::engine
