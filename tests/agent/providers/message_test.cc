#include "agent/providers/message.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

TEST(MessageTest, AssistantToolCallTurnRoundTripsExactly) {
  Message m;
  m.role = Role::kAssistant;
  m.content = "";
  m.reasoning = "Need to read the file.";
  m.has_reasoning = true;
  m.tool_calls = {{"call_0", "read_file", "{\"path\": \"a.cc\"}"}};  // argument bytes kept as-is
  const Json j = MessageToJson(m);
  EXPECT_EQ(j["reasoning_content"], "Need to read the file.");
  EXPECT_EQ(j["tool_calls"][0]["type"], "function");
  EXPECT_EQ(j["tool_calls"][0]["function"]["arguments"], "{\"path\": \"a.cc\"}");
  EXPECT_EQ(MessageFromJson(j), m);
}

TEST(MessageTest, EmptyReasoningIsDistinctFromAbsentReasoning) {
  Message with;
  with.role = Role::kAssistant;
  with.has_reasoning = true;
  Message without;
  without.role = Role::kAssistant;
  EXPECT_TRUE(MessageToJson(with).contains("reasoning_content"));
  EXPECT_FALSE(MessageToJson(without).contains("reasoning_content"));
  EXPECT_EQ(MessageFromJson(MessageToJson(with)), with);
  EXPECT_EQ(MessageFromJson(MessageToJson(without)), without);
}

TEST(MessageTest, ToolAndUserMessages) {
  const Message t = ToolResultMessage("call_0", "output");
  const Json j = MessageToJson(t);
  EXPECT_EQ(j["role"], "tool");
  EXPECT_EQ(j["tool_call_id"], "call_0");
  EXPECT_FALSE(j.contains("tool_calls"));
  EXPECT_EQ(MessageFromJson(j), t);
  EXPECT_EQ(MessageToJson(UserMessage("hi")), (Json{{"role", "user"}, {"content", "hi"}}));
}

TEST(MessageTest, CanonicalFormIsStableBytes) {
  const Message t = ToolResultMessage("c", "é \xFF");  // invalid UTF-8 does not throw
  const std::string a = CanonicalJson(MessageToJson(t));
  EXPECT_EQ(a, CanonicalJson(MessageToJson(MessageFromJson(Json::parse(a)))));
  EXPECT_EQ(a.find("\"content\""), 1u);  // keys sorted: content < role < tool_call_id
}

TEST(MessageTest, UnknownRoleIsRejected) {
  EXPECT_ANY_THROW(MessageFromJson(Json{{"role", "developer"}, {"content", "x"}}));
}

}  // namespace
}  // namespace dsagent
