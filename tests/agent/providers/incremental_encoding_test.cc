// The incremental request encoders (encoded_prefix.h) against encoding each body from nothing: a
// wire format that has encoded the earlier requests of a conversation must produce exactly the
// bytes a fresh one produces, step after step, through the cases that change the shape (tool-result
// runs that Anthropic merges, late system messages, a compaction that rewrites old messages, the
// reasoning repair resend).
#include <gtest/gtest.h>

#include <functional>

#include "agent/providers/anthropic_messages.h"
#include "agent/providers/chat_completions.h"
#include "agent/providers/encoded_prefix.h"
#include "agent/providers/message_list.h"

namespace dsagent {
namespace {

Message EncodedAssistant(std::string content, std::vector<ToolCall> calls = {}) {
  Message m;
  m.role = Role::kAssistant;
  m.content = std::move(content);
  m.reasoning = "thinking \"hard\"\n";
  m.has_reasoning = true;
  m.tool_calls = std::move(calls);
  return m;
}

Request BaseRequest() {
  Request r;
  r.lane = {"deepseek-v4-flash", true, "high"};
  r.tools = {{"bash", "Runs a command.", Json{{"type", "object"}}},
             {"read_file", "Reads.", Json()}};
  r.max_output_tokens = 1000;
  r.user_id = "u1";
  return r;
}

// A conversation grown one message at a time; after each append, `check` sees the request.
template <typename Check>
void GrowConversation(Check check) {
  Request r = BaseRequest();
  const std::vector<Message> script = {
      SystemMessage("Be brief."),
      SystemMessage("Second leading system message."),
      UserMessage("map of the repo: ünïcödé \xff bytes"),
      UserMessage("Fix the bug."),
      EncodedAssistant("",
                       {{"c1", "bash", R"({"command":"ls"})"}, {"c2", "read_file", "not json"}}),
      ToolResultMessage("c1", "a.c\nb.c\n"),
      ToolResultMessage("c2", "int main() {}"),
      EncodedAssistant("Looking.", {{"c3", "read_file", R"({"path":"a.c"})"}}),
      ToolResultMessage("c3", std::string(5000, 'x')),
      SystemMessage("a late reminder"),
      EncodedAssistant("Done."),
      UserMessage("Thanks"),
  };
  for (const Message& m : script) {
    r.messages.push_back(m);
    check(r);
  }
}

TEST(IncrementalEncodingTest, ChatCompletionsBodiesEqualWholeEncodingAtEveryStep) {
  for (const ChatDialect& dialect : {DeepSeekDialect(), OpenAiCompatibleDialect()}) {
    ChatCompletionsWire wire(dialect);
    GrowConversation([&](const Request& r) {
      const std::string incremental = wire.BuildBody(r, false).Bytes();
      EXPECT_EQ(incremental, CanonicalJson(BuildChatCompletionsBody(r, dialect, false)))
          << "after " << r.messages.size() << " messages";
      EXPECT_EQ(wire.BuildBody(r, true).Bytes(),
                CanonicalJson(BuildChatCompletionsBody(r, dialect, true)));
      // The repair resend does not disturb the cache of the usual form.
      EXPECT_EQ(wire.BuildBody(r, false).Bytes(), incremental);
    });
  }
}

TEST(IncrementalEncodingTest, AnthropicBodiesEqualAFreshEncoderAtEveryStep) {
  AnthropicMessagesWire wire;
  GrowConversation([&](const Request& r) {
    AnthropicMessagesWire fresh;
    const std::string incremental = wire.BuildBody(r, false).Bytes();
    EXPECT_EQ(incremental, fresh.BuildBody(r, false).Bytes()) << "after " << r.messages.size();
    EXPECT_EQ(incremental, CanonicalJson(BuildAnthropicMessagesBody(r, false)));
    EXPECT_EQ(wire.BuildBody(r, true).Bytes(), AnthropicMessagesWire().BuildBody(r, true).Bytes());
  });
}

// The fields around the messages are kept serialised while they stay equal (EncodedFields): a
// step whose lane, limits or tools differ from the last one's gets its own, and a change back
// the first ones again.
TEST(IncrementalEncodingTest, FieldsThatChangeBetweenStepsAreSerialisedAgain) {
  ChatCompletionsWire chat(DeepSeekDialect());
  AnthropicMessagesWire anthropic;
  Request r = BaseRequest();
  r.messages.push_back(SystemMessage("Be brief."));
  r.messages.push_back(UserMessage("Fix the bug."));
  const std::vector<std::function<void(Request&)>> changes = {
      [](Request&) {},
      [](Request& q) {
        q.lane = {"deepseek-v4-pro", false, ""};
      },
      [](Request& q) { q.max_output_tokens = 4096; },
      [](Request& q) {
        q.tools.push_back({"grep", "Searches.", Json{{"type", "object"}}});
      },
      [](Request& q) { q.tools[0].description = "Runs a shell command."; },
      [](Request& q) { q = BaseRequest(); },  // back to the first fields, messages too
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    changes[i](r);
    if (r.messages.empty()) r.messages.push_back(UserMessage("again"));
    EXPECT_EQ(chat.BuildBody(r, false).Bytes(),
              CanonicalJson(BuildChatCompletionsBody(r, DeepSeekDialect(), false)))
        << "change " << i;
    EXPECT_EQ(anthropic.BuildBody(r, false).Bytes(),
              CanonicalJson(BuildAnthropicMessagesBody(r, false)))
        << "change " << i;
  }
}

TEST(IncrementalEncodingTest, AnthropicMergesATrailingToolResultRunAcrossCalls) {
  AnthropicMessagesWire wire;
  Request r = BaseRequest();
  r.messages = {SystemMessage("S"), UserMessage("go"),
                EncodedAssistant("", {{"a", "bash", "{}"}, {"b", "bash", "{}"}}),
                ToolResultMessage("a", "one")};
  wire.BuildBody(r, false);
  r.messages.push_back(ToolResultMessage("b", "two"));
  const Json body = Json::parse(wire.BuildBody(r, false).Bytes());
  ASSERT_EQ(body["messages"].size(), 3u);
  ASSERT_EQ(body["messages"][2]["content"].size(), 2u);  // both results in one user message
  EXPECT_EQ(body["messages"][2]["content"][1]["content"], "two");
  EXPECT_EQ(body["system"], "S");
}

TEST(IncrementalEncodingTest, ARewrittenConversationIsEncodedFromScratch) {
  ChatCompletionsWire wire(DeepSeekDialect());
  Request r = BaseRequest();
  r.messages = {SystemMessage("S"), UserMessage("go"), EncodedAssistant("", {{"a", "bash", "{}"}}),
                ToolResultMessage("a", "long output")};
  wire.BuildBody(r, false);
  // A compaction: the same conversation with an old tool result replaced, in new storage.
  Request compacted = r;
  compacted.messages = {SystemMessage("S"), UserMessage("go"),
                        EncodedAssistant("", {{"a", "bash", "{}"}}),
                        ToolResultMessage("a", "[elided]")};
  const std::string body = wire.BuildBody(compacted, false).Bytes();
  EXPECT_EQ(body, CanonicalJson(BuildChatCompletionsBody(compacted, DeepSeekDialect(), false)));
  EXPECT_EQ(body.find("long output"), std::string::npos);
  // And an older, shorter view of the first conversation still encodes correctly.
  Request older = r;
  older.messages = r.messages;
  EXPECT_EQ(wire.BuildBody(older, false).Bytes(),
            CanonicalJson(BuildChatCompletionsBody(older, DeepSeekDialect(), false)));
}

TEST(IncrementalEncodingTest, SplicedArrayMatchesCanonicalJson) {
  const Json object = {{"a", 1}, {"z", {{"k", "v"}}}, {"max", "x"}};
  Json whole = object;
  whole["m"] = Json::array({1, "two", Json::object()});
  EncodedPrefix elements;
  elements.Append("1");
  elements.Append(R"("two")");
  EXPECT_EQ(CanonicalJsonWithArray(object, "m", elements, "{}").Bytes(), CanonicalJson(whole));
  Json only = Json::object();
  only["m"] = Json::array();
  EXPECT_EQ(CanonicalJsonWithArray(Json::object(), "m", EncodedPrefix(), "").Bytes(),
            CanonicalJson(only));
  Json none_cached = Json::object();
  none_cached["m"] = Json::array({Json::object()});
  EXPECT_EQ(CanonicalJsonWithArray(Json::object(), "m", EncodedPrefix(), "{}").Bytes(),
            CanonicalJson(none_cached));
}

// The cache spans several blocks (they start at 64 KiB) and one element larger than any block; the
// pieces of a body must still concatenate to the whole encoding.
TEST(IncrementalEncodingTest, ElementsAcrossBlocksAndOversizedElementsStayInOrder) {
  EncodedPrefix prefix;
  Json expected = Json::array();
  for (int i = 0; i < 300; ++i) {
    const Json element = std::string(1000 + i, static_cast<char>('a' + i % 26));
    prefix.Append(CanonicalJson(element));
    expected.push_back(element);
  }
  const Json huge = std::string(5 * 1024 * 1024, 'h');
  prefix.Append(CanonicalJson(huge));
  expected.push_back(huge);
  const Json last = "after";
  prefix.Append(CanonicalJson(last));
  expected.push_back(last);

  const WireBody body = CanonicalJsonWithArray(Json{{"a", 1}}, "m", prefix);
  EXPECT_GT(body.pieces().size(), 4u);  // head, several blocks, tail
  EXPECT_EQ(body.size(), body.Bytes().size());
  EXPECT_EQ(body.Bytes(), CanonicalJson(Json{{"a", 1}, {"m", expected}}));
}

// A body refers to the cache's bytes; it must keep them, unchanged, while the encoder goes on:
// appends behind them, and a reset that drops the cache (a compaction) while the body is in flight.
TEST(IncrementalEncodingTest, ABodyKeepsItsBytesWhileTheEncoderAppendsAndResets) {
  EncodedPrefix prefix;
  prefix.ContinueOrReset(1, 0);
  prefix.Append(R"("first")");
  const WireBody body = CanonicalJsonWithArray(Json::object(), "m", prefix);
  const std::string before = body.Bytes();
  EXPECT_EQ(before, R"({"m":["first"]})");
  prefix.Append(R"("second")");
  EXPECT_EQ(body.Bytes(), before);
  EXPECT_FALSE(prefix.ContinueOrReset(2, 0));
  EXPECT_EQ(prefix.bytes(), 0u);
  prefix.Append(R"("other")");
  EXPECT_EQ(body.Bytes(), before);
  EXPECT_EQ(CanonicalJsonWithArray(Json::object(), "m", prefix).Bytes(), R"({"m":["other"]})");
}

TEST(MessageListTest, CopiesShareStorageAndSeeOnlyTheirOwnPrefix) {
  MessageList a = {UserMessage("one")};
  MessageList b = a;
  b.push_back(UserMessage("two"));
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(a.storage_id(), b.storage_id());  // b appended in place
  EXPECT_EQ(&a[0], &b[0]);                    // the message is not copied
  // `a` is now a shorter view: appending to it must not overwrite b's second message.
  a.push_back(UserMessage("other"));
  EXPECT_NE(a.storage_id(), b.storage_id());
  EXPECT_EQ(a[1].content, "other");
  EXPECT_EQ(b[1].content, "two");
  size_t n = 0;
  for (const Message& m : b) n += m.content.size();
  EXPECT_EQ(n, 6u);
}

}  // namespace
}  // namespace dsagent
