// LocalRequestBuilder against the path `dsagent serve` takes for the same Request: the
// openai-compatible body, parsed whole by the server's parser and rendered whole. After every
// step of a conversation the builder's prompt is byte-identical (and its ids are the tokenizer's
// ids of that prompt), with tools and without (thinking mode then drops old reasoning, which
// rewrites earlier text), with invalid UTF-8 in a tool result, after a compaction (a new message
// list) and when the lane changes (only effort or thinking start over); and its errors are the
// server's.
#include "agent/providers/local_request.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "agent/providers/chat_completions.h"
#include "engine/server/openai_chat.h"
#include "engine/tokenizer/model_tokenizer.h"

namespace dsagent {
namespace {

const std::filesystem::path kTinyTokenizer =
    std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny-tokenizer/tokenizer.json";

class LocalRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t =
        engine::LoadModelTokenizer({.tokenizer_file = kTinyTokenizer, .model_vocab_size = 512});
    ASSERT_TRUE(t) << t.error();
    tok_ = std::move(*t);
  }

  // Builds `r` and checks it against the serve path.
  void ExpectLikeServe(LocalRequestBuilder& builder, const Request& r) {
    auto built = builder.Build(r, 0, CancelToken());
    ASSERT_TRUE(built) << built.error().message;
    const std::string body =
        CanonicalJson(BuildChatCompletionsBody(r, OpenAiCompatibleDialect(), false));
    auto served = engine::server::ParseChatRequest(body, {.max_tokens = r.max_output_tokens});
    ASSERT_TRUE(served) << served.error().message;
    auto text = engine::RenderChatPrompt(served->chat);
    ASSERT_TRUE(text) << text.error();
    ASSERT_EQ(builder.prompt_text(), *text) << "messages: " << r.messages.size();
    EXPECT_EQ(builder.prompt_ids(), tok_->Encode(*text));
    const engine::ChatRequest& chat = builder.chat();
    EXPECT_TRUE(chat.messages.empty() || chat.messages.is_null());
    EXPECT_EQ(chat.thinking, served->chat.thinking);
    EXPECT_EQ(chat.reasoning_effort, served->chat.reasoning_effort);
    EXPECT_EQ(chat.tools, served->chat.tools);
    EXPECT_EQ(chat.generate.max_tokens, served->chat.generate.max_tokens);
    EXPECT_EQ(chat.generate.sampling.temperature, served->chat.generate.sampling.temperature);
    EXPECT_EQ(chat.tool_choice.mode, served->chat.tool_choice.mode);
    EXPECT_EQ(chat.parallel_tool_calls, served->chat.parallel_tool_calls);
  }

  std::unique_ptr<engine::BpeTokenizer> tok_;
};

Request BaseRequest(bool tools) {
  Request r;
  r.lane = {"local", true, "high"};
  if (tools) {
    r.tools = {{"bash", "Runs a command.",
                Json::parse(R"({"type":"object","properties":{"command":{"type":"string"},
                  "timeout":{"type":"integer","minimum":1}},"required":["command"]})")},
               {"read_file", "Reads a file.", Json()}};
  }
  r.max_output_tokens = 1000;
  r.messages.push_back(SystemMessage("You are a coding agent. Ünïcode ✓."));
  r.messages.push_back(UserMessage("Fix the failing test."));
  return r;
}

// One agent step: an assistant turn with two tool calls (and reasoning), then their results.
void AppendStep(Request& r, int step, std::string result = "") {
  Message a;
  a.role = Role::kAssistant;
  a.reasoning = "step " + std::to_string(step) + ": look";
  a.has_reasoning = true;
  const std::string id0 = "call_0", id1 = "call_1";  // the local provider numbers per reply
  a.tool_calls = {{id0, "read_file", R"({"path": "src/a.cc"})"},
                  {id1, "bash", R"({"command":"ls -l","timeout":5})"}};
  r.messages.push_back(a);
  r.messages.push_back(ToolResultMessage(id0, result.empty() ? "int a() { return 1; }" : result));
  r.messages.push_back(ToolResultMessage(id1, "total 0\n-rw-r--r-- 1 a b 0 x"));
}

TEST_F(LocalRequestTest, AgentSessionMatchesServeAtEveryStepAndStartsOnce) {
  for (const bool thinking : {true, false}) {
    LocalRequestBuilder builder(*tok_);
    Request r = BaseRequest(true);
    r.lane.thinking = thinking;
    ExpectLikeServe(builder, r);
    for (int step = 0; step < 8; ++step) {
      AppendStep(r, step, step == 3 ? std::string("bad utf-8: \xff\xfe end") : "");
      ExpectLikeServe(builder, r);
    }
    // A plain-text reply (its reasoning is not sent back) and a new user turn.
    Message done;
    done.role = Role::kAssistant;
    done.content = "Fixed.";
    done.reasoning = "all good";
    done.has_reasoning = true;
    r.messages.push_back(done);
    r.messages.push_back(UserMessage("Now add a test."));
    ExpectLikeServe(builder, r);
    EXPECT_EQ(builder.full_renders(), 1u) << "thinking " << thinking;
  }
}

TEST_F(LocalRequestTest, WithoutToolsThinkingDropsOldReasoningLikeServe) {
  LocalRequestBuilder builder(*tok_);
  Request r = BaseRequest(false);
  ExpectLikeServe(builder, r);
  for (int step = 0; step < 4; ++step) {
    AppendStep(r, step);
    ExpectLikeServe(builder, r);
  }
  EXPECT_GT(builder.full_renders(), 1u);  // the template rewrote earlier text
}

TEST_F(LocalRequestTest, NewMessageListOrAnotherRenderingStartsOver) {
  LocalRequestBuilder builder(*tok_);
  Request r = BaseRequest(true);
  AppendStep(r, 0);
  ExpectLikeServe(builder, r);
  // A compaction: a new list whose old tool results are stubs.
  Request compacted = BaseRequest(true);
  AppendStep(compacted, 0, "[elided: re-read src/a.cc]");
  ExpectLikeServe(builder, compacted);
  AppendStep(compacted, 1);
  ExpectLikeServe(builder, compacted);
  EXPECT_EQ(builder.full_renders(), 2u);
  // Another model name and max_tokens do not change the prompt: it is kept.
  compacted.lane.model = "local-other";
  compacted.max_output_tokens = 2000;
  AppendStep(compacted, 2);
  ExpectLikeServe(builder, compacted);
  EXPECT_EQ(builder.full_renders(), 2u);
  // Another effort on the same list does.
  compacted.lane.effort = "max";
  ExpectLikeServe(builder, compacted);
  EXPECT_EQ(builder.full_renders(), 3u);
}

TEST_F(LocalRequestTest, RefusesWhatServeRefusesWithItsMessage) {
  LocalRequestBuilder builder(*tok_);
  Request empty = BaseRequest(true);
  empty.messages = MessageList();
  auto none = builder.Build(empty, 0, CancelToken());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ProviderErrorKind::kInvalidRequest);
  EXPECT_EQ(none.error().message, "local engine: messages must be a non-empty array");

  Request zero = BaseRequest(true);
  zero.max_output_tokens = 0;
  auto bad = builder.Build(zero, 0, CancelToken());
  ASSERT_FALSE(bad);
  auto served = engine::server::ParseChatRequest(
      CanonicalJson(BuildChatCompletionsBody(zero, OpenAiCompatibleDialect(), false)),
      {.max_tokens = 0});
  ASSERT_FALSE(served);
  EXPECT_EQ(bad.error().kind, ProviderErrorKind::kInvalidRequest);
  EXPECT_EQ(bad.error().message, "local engine: " + served.error().message);

  CancelToken cancel;
  cancel.Cancel();
  auto cancelled = builder.Build(BaseRequest(true), 0, cancel);
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().kind, ProviderErrorKind::kCancelled);
}

}  // namespace
}  // namespace dsagent
