// ConversationPrompt against the one-shot path (RenderChatPrompt + Encode): after every appended
// message its text and ids are the same, on an agent session with tools, a thinking-mode
// conversation without tools (the template's fallback), tools with no system message first, and
// after a cancelled tokenization. Also BpeTokenizer::EncodeInPlace against Encode.
#include "engine/generate/conversation_prompt.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {
namespace {

const std::filesystem::path kConversationTokenizerJson =
    std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny-tokenizer/tokenizer.json";

class ConversationPromptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = BpeTokenizer::Load(kConversationTokenizerJson);
    ASSERT_TRUE(t) << t.error();
    tok_ = std::move(*t);
  }

  // Appends each message, checking text and ids against the one-shot path after each.
  void ExpectSameAfterEveryAppend(ConversationPrompt& prompt, ChatRequest whole,
                                  const std::vector<OrderedJson>& messages) {
    for (size_t i = 0; i < messages.size(); ++i) {
      auto added = prompt.Append(messages[i]);
      ASSERT_TRUE(added) << added.error();
      whole.messages.push_back(messages[i]);
      ASSERT_TRUE(prompt.Update());
      auto expected = RenderChatPrompt(whole);
      ASSERT_TRUE(expected) << expected.error();
      EXPECT_EQ(prompt.text(), *expected) << "after message " << i;
      EXPECT_EQ(prompt.ids(), tok_->Encode(*expected)) << "after message " << i;
    }
  }

  std::unique_ptr<BpeTokenizer> tok_;
};

const OrderedJson kTools = OrderedJson::parse(R"([{"type":"function","function":{"name":"read_file",
      "description":"Read a file","parameters":{"type":"object",
      "properties":{"path":{"type":"string"}},"required":["path"]}}}])");

std::vector<OrderedJson> AgentTurns(int steps) {
  std::vector<OrderedJson> m = {{{"role", "system"}, {"content", "You are a coding agent."}},
                                {{"role", "user"}, {"content", "Fix the failing test."}}};
  for (int s = 0; s < steps; ++s) {
    const std::string a = "call_" + std::to_string(2 * s), b = "call_" + std::to_string(2 * s + 1);
    m.push_back({{"role", "assistant"},
                 {"content", ""},
                 {"reasoning_content", "Step " + std::to_string(s) + ": read two files."},
                 {"tool_calls",
                  {{{"id", a},
                    {"type", "function"},
                    {"function", {{"name", "read_file"}, {"arguments", R"({"path":"a.cc"})"}}}},
                   {{"id", b},
                    {"type", "function"},
                    {"function", {{"name", "read_file"}, {"arguments", R"({"path":"b.cc"})"}}}}}}});
    // Results arrive in the other order; the template reorders them like the calls.
    m.push_back({{"role", "tool"}, {"tool_call_id", b}, {"content", "int b() { return 2; }"}});
    m.push_back({{"role", "tool"}, {"tool_call_id", a}, {"content", "int a() { return 1; }"}});
  }
  m.push_back({{"role", "assistant"}, {"content", "Done."}, {"reasoning_content", "ok"}});
  m.push_back({{"role", "user"}, {"content", "Thanks. One more thing?"}});
  return m;
}

TEST_F(ConversationPromptTest, AgentSessionWithToolsIsIncrementalAndIdentical) {
  ChatRequest shape;
  shape.tools = kTools;
  ConversationPrompt prompt(*tok_, shape);
  ExpectSameAfterEveryAppend(prompt, shape, AgentTurns(6));
  EXPECT_EQ(prompt.full_renders(), 0u);
}

// A turn costs the turn: where the new prompt extends the last one, only the new bytes are
// tokenized, although the last one ended in the "<｜Assistant｜><think>" transition and, after a
// tool result, in text the encoder renders again (its open tail).
TEST_F(ConversationPromptTest, AnExtendedPromptTokenizesOnlyItsNewBytes) {
  for (const bool thinking : {true, false}) {
    ChatRequest shape;
    shape.tools = kTools;
    shape.thinking = thinking;
    ConversationPrompt prompt(*tok_, shape);
    const std::vector<OrderedJson> turns = AgentTurns(6);
    std::string previous;
    size_t extended = 0;
    for (size_t i = 0; i < turns.size(); ++i) {
      ASSERT_TRUE(prompt.Append(turns[i]));
      ASSERT_TRUE(prompt.Update());
      const std::string& text = prompt.text();
      ASSERT_EQ(prompt.ids(), tok_->Encode(text)) << "after message " << i;
      // Text after the last marker is encoded again (what follows may join its last pre-token);
      // after a marker nothing is.
      const bool ends_at_marker = previous.ends_with("<think>") || previous.ends_with("</think>") ||
                                  previous.ends_with("<｜end▁of▁sentence｜>");
      if (ends_at_marker && text.starts_with(previous)) {
        EXPECT_EQ(prompt.tokenized_bytes(), text.size() - previous.size())
            << "after message " << i << (thinking ? " (thinking)" : "");
        ++extended;
      }
      previous = text;
    }
    // Every message after the first user turn but the second of each pair of results (placed
    // before the first: the template orders them like the calls) extends the prompt.
    EXPECT_EQ(extended, turns.size() - 2 - 6);
  }
}

TEST_F(ConversationPromptTest, ThinkingWithoutToolsFallsBackWhereTheTemplateRewrites) {
  for (const bool thinking : {true, false}) {
    ChatRequest shape;
    shape.thinking = thinking;
    shape.reasoning_effort = thinking ? "max" : "";
    ConversationPrompt prompt(*tok_, shape);
    ExpectSameAfterEveryAppend(prompt, shape, AgentTurns(3));
    // Thinking drops old reasoning: every new user turn (tool results are user turns) rewrites.
    if (thinking) {
      EXPECT_GT(prompt.full_renders(), 0u);
    } else {
      EXPECT_EQ(prompt.full_renders(), 0u);
    }
  }
}

TEST_F(ConversationPromptTest, ToolsWithoutALeadingSystemMessageRenderWhole) {
  ChatRequest shape;
  shape.tools = kTools;
  ConversationPrompt prompt(*tok_, shape);
  std::vector<OrderedJson> messages = AgentTurns(2);
  messages.erase(messages.begin());  // no system message: one is inserted at the front ...
  const OrderedJson late_system = {{"role", "system"}, {"content", "late system"}};
  messages.insert(messages.begin() + 3, late_system);  // ... until this one
  ExpectSameAfterEveryAppend(prompt, shape, messages);
}

TEST_F(ConversationPromptTest, CancelledTokenizationIsRedoneWhole) {
  ChatRequest shape;
  shape.tools = kTools;
  ConversationPrompt prompt(*tok_, shape);
  const std::vector<OrderedJson> turns = AgentTurns(2);
  ChatRequest whole = shape;
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(prompt.Append(turns[i]));
    whole.messages.push_back(turns[i]);
  }
  CancelToken cancel;
  cancel.Cancel();
  EXPECT_FALSE(prompt.Update(&cancel));
  for (size_t i = 4; i < turns.size(); ++i) {
    ASSERT_TRUE(prompt.Append(turns[i]));
    whole.messages.push_back(turns[i]);
  }
  ASSERT_TRUE(prompt.Update());
  EXPECT_EQ(prompt.ids(), tok_->Encode(*RenderChatPrompt(whole)));
}

TEST_F(ConversationPromptTest, EncodeInPlaceEqualsEncodeForAnySharedLength) {
  const std::string a = "<｜User｜>hello world<｜Assistant｜></think>reply<｜end▁of▁sentence｜>";
  const std::string b = a + "<｜User｜>next turn<｜Assistant｜><think>";
  const std::string c = "<｜User｜>hello there<｜Assistant｜><think>";
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{a, b}, {b, a}, {a, c}, {"", b}, {b, ""}}) {
    const size_t shared = static_cast<size_t>(
        std::mismatch(from.begin(), from.end(), to.begin(), to.end()).first - from.begin());
    for (size_t claimed = 0; claimed <= shared; claimed += std::max<size_t>(1, shared / 7)) {
      BpeTokenizer::Encoding e = tok_->EncodeResuming(from, {}, nullptr);
      tok_->EncodeInPlace(e, to, claimed);
      EXPECT_EQ(e.ids, tok_->Encode(to))
          << "from '" << from << "' to '" << to << "' sharing " << claimed;
      EXPECT_EQ(e.resume_points.size(), tok_->EncodeResuming(to, {}, nullptr).resume_points.size());
    }
  }
}

}  // namespace
}  // namespace dsagent::engine
