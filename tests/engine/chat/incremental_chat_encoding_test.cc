// IncrementalChatEncoder against EncodeMessages: after every appended message the incremental
// prompt is byte-identical to encoding the whole list, on the upstream vectors and on random
// conversations that exercise every place where the template rewrites earlier text (dropped
// reasoning and a new last user turn, developer messages, tool-result merging and reordering,
// tasks, tools first appearing late).
#include "engine/chat/incremental_chat_encoding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/file_io.h"

namespace dsagent::engine {
namespace {
namespace fs = std::filesystem;

const fs::path kUpstreamVectors = fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-encoding";

// Appends `messages` one by one, checking the prompt after each against the whole encoding.
// Returns the encoder's count of full renders.
size_t ExpectSameAfterEveryAppend(const OrderedJson& messages, const ChatEncodeOptions& options,
                                  const std::string& what) {
  IncrementalChatEncoder encoder(options);
  OrderedJson prefix = OrderedJson::array();
  std::string previous;
  for (size_t i = 0; i < messages.size(); ++i) {
    prefix.push_back(messages[i]);
    auto added = encoder.Append(messages[i]);
    auto whole = EncodeMessages(prefix, options);
    EXPECT_EQ(added.has_value(), whole.has_value()) << what << " message " << i;
    if (!added || !whole) break;
    const std::string& text = encoder.Encode();
    EXPECT_EQ(text, *whole) << what << " after message " << i;
    // What it claims to share with the previous prompt is all that is shared (the tokenizer
    // keeps the ids of that much), and no more.
    const size_t shared = static_cast<size_t>(
        std::mismatch(text.begin(), text.end(), previous.begin(), previous.end()).first -
        text.begin());
    EXPECT_EQ(encoder.reused_bytes(), i == 0 ? 0 : shared) << what << " after message " << i;
    previous = text;
  }
  return encoder.full_renders();
}

TEST(IncrementalChatEncodingTest, UpstreamVectorsAfterEveryMessage) {
  for (int n = 1; n <= 4; ++n) {
    OrderedJson input = OrderedJson::parse(
        *ReadFileToString(kUpstreamVectors / ("test_input_" + std::to_string(n) + ".json")));
    OrderedJson messages = input;
    if (input.is_object()) {
      messages = input["messages"];
      messages[0]["tools"] = input["tools"];
    }
    for (const bool thinking : {true, false}) {
      ChatEncodeOptions options;
      options.thinking = thinking;
      ExpectSameAfterEveryAppend(messages, options, "vector " + std::to_string(n));
    }
  }
}

// A random message of every kind the template handles.
OrderedJson RandomMessage(std::mt19937_64& rng, int index, std::vector<std::string>& open_calls) {
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const std::string text = "text " + std::to_string(index) + (pick(3) == 0 ? "\n<tag>" : "");
  switch (pick(12)) {
    case 0:
      return {{"role", "system"}, {"content", "sys " + text}};
    case 1:
    case 2: {
      OrderedJson m = {{"role", "user"}, {"content", text}};
      if (pick(8) == 0) m["task"] = std::vector<std::string>{"action", "query", "title"}[pick(3)];
      if (pick(10) == 0) {
        m["tools"] = OrderedJson::parse(R"([{"type":"function","function":{"name":"t"}}])");
      }
      return m;
    }
    case 3:
      return {{"role", "developer"}, {"content", "dev " + text}};
    case 4:
      return {{"role", "latest_reminder"}, {"content", "remind " + text}};
    case 5:
    case 6:
    case 7: {
      OrderedJson m = {{"role", "assistant"}, {"content", "answer " + text}};
      if (pick(2) == 0) m["reasoning_content"] = "thought " + text;
      open_calls.clear();
      const int calls = pick(4);
      if (calls > 0) {
        m["tool_calls"] = OrderedJson::array();
        for (int c = 0; c < calls; ++c) {
          const std::string id = "call_" + std::to_string(index) + "_" + std::to_string(c);
          open_calls.push_back(id);
          m["tool_calls"].push_back(
              {{"id", id},
               {"type", "function"},
               {"function", {{"name", "read"}, {"arguments", R"({"path":"a","n":1})"}}}});
        }
      }
      if (pick(10) == 0) m["wo_eos"] = true;
      return m;
    }
    default: {
      // A result for one of the last calls, in any order, sometimes for an unknown id.
      const std::string id =
          open_calls.empty() || pick(6) == 0
              ? "unknown"
              : open_calls[static_cast<size_t>(pick(static_cast<int>(open_calls.size())))];
      return {{"role", "tool"}, {"tool_call_id", id}, {"content", "result " + text}};
    }
  }
}

TEST(IncrementalChatEncodingTest, RandomConversationsAfterEveryMessage) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    OrderedJson messages = OrderedJson::array();
    std::vector<std::string> open_calls;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) messages.push_back(RandomMessage(rng, i, open_calls));
    ChatEncodeOptions options;
    options.thinking = rng() % 3 != 0;
    options.drop_thinking = rng() % 4 != 0;
    options.reasoning_effort = rng() % 3 == 0 ? "max" : "";
    ExpectSameAfterEveryAppend(messages, options, "seed " + std::to_string(seed));
  }
}

// An agent session with tools on the system message: nothing earlier ever changes, so no turn
// renders the whole prompt again.
TEST(IncrementalChatEncodingTest, AgentSessionWithToolsNeverRendersWhole) {
  OrderedJson messages = OrderedJson::array();
  messages.push_back(
      {{"role", "system"},
       {"content", "You are an agent."},
       {"tools", OrderedJson::parse(R"([{"type":"function","function":{"name":"read"}}])")}});
  messages.push_back({{"role", "user"}, {"content", "fix the bug"}});
  for (int step = 0; step < 20; ++step) {
    const std::string id = "call_" + std::to_string(step);
    messages.push_back({{"role", "assistant"},
                        {"content", ""},
                        {"reasoning_content", "look at file " + std::to_string(step)},
                        {"tool_calls",
                         {{{"id", id},
                           {"type", "function"},
                           {"function", {{"name", "read"}, {"arguments", R"({"path":"f"})"}}}}}}});
    messages.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", "contents"}});
  }
  ChatEncodeOptions options;
  EXPECT_EQ(ExpectSameAfterEveryAppend(messages, options, "agent session"), 0u);
}

// Thinking mode without tools drops the reasoning of turns before the last user turn: each new
// user turn rewrites earlier text, and the encoder renders the whole prompt then (and only then).
TEST(IncrementalChatEncodingTest, DroppedReasoningFallsBackToAWholeRender) {
  ChatEncodeOptions options;
  IncrementalChatEncoder encoder(options);
  OrderedJson all = OrderedJson::array();
  const auto append = [&](OrderedJson m) {
    all.push_back(m);
    ASSERT_TRUE(encoder.Append(m));
  };
  append({{"role", "user"}, {"content", "q1"}});
  EXPECT_EQ(encoder.Encode(), *EncodeMessages(all, options));
  append({{"role", "assistant"}, {"content", "a1"}, {"reasoning_content", "r1"}});
  const std::string with_reasoning = encoder.Encode();
  EXPECT_NE(with_reasoning.find("r1"), std::string::npos);
  EXPECT_EQ(encoder.full_renders(), 0u);
  append({{"role", "user"}, {"content", "q2"}});
  const std::string dropped = encoder.Encode();
  EXPECT_EQ(dropped, *EncodeMessages(all, options));
  EXPECT_EQ(dropped.find("r1"), std::string::npos);  // the earlier text changed
  EXPECT_EQ(encoder.full_renders(), 1u);
  // What is still shared: up to where the first turn's "<think>" became "</think>".
  EXPECT_EQ(encoder.reused_bytes(),
            static_cast<size_t>(std::mismatch(dropped.begin(), dropped.end(),
                                              with_reasoning.begin(), with_reasoning.end())
                                    .first -
                                dropped.begin()));
}

TEST(IncrementalChatEncodingTest, UnknownRoleIsRefusedAndNotAdded) {
  IncrementalChatEncoder encoder({});
  ASSERT_TRUE(encoder.Append({{"role", "user"}, {"content", "hi"}}));
  auto bad = encoder.Append({{"role", "robot"}, {"content", "x"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "message 1: unknown role 'robot'");
  EXPECT_EQ(encoder.size(), 1u);
  EXPECT_EQ(encoder.Encode(),
            *EncodeMessages(OrderedJson::parse(R"([{"role":"user","content":"hi"}])"), {}));
}

}  // namespace
}  // namespace dsagent::engine
