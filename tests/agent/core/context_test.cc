#include "agent/core/context.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

Message AssistantCalls(std::vector<ToolCall> calls) {
  Message m;
  m.role = Role::kAssistant;
  m.reasoning = "r";
  m.has_reasoning = true;
  m.tool_calls = std::move(calls);
  return m;
}

TEST(ContextTest, ToolsAreSortedAndRequestsStartWithTheSystemPrompt) {
  Context ctx("SYSTEM", {{"zeta", "z", Json::object()}, {"alpha", "a", Json::object()}});
  ctx.Append(UserMessage("task"));
  Request r = ctx.BuildRequest({"m", true, "high"}, 100, "u");
  ASSERT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tools[0].name, "alpha");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, Role::kSystem);
  EXPECT_EQ(r.messages[0].content, "SYSTEM");
  EXPECT_EQ(r.user_id, "u");
}

TEST(ContextTest, EarlierRequestIsAPrefixOfLaterOne) {
  Context ctx("S", {});
  ctx.Append(UserMessage("task"));
  const Request first = ctx.BuildRequest({"m", true, "high"}, 100, "u");
  ctx.Append(AssistantCalls({{"c1", "bash", "{\"command\":\"ls\"}"}}));
  ctx.Append(ToolResultMessage("c1", "a\nb\n"));
  const Request second = ctx.BuildRequest({"m", true, "high"}, 100, "u");
  ASSERT_GT(second.messages.size(), first.messages.size());
  for (size_t i = 0; i < first.messages.size(); ++i)
    EXPECT_EQ(first.messages[i], second.messages[i]);
}

TEST(ContextTest, PrefixHashDependsOnlyOnSystemAndTools) {
  Context a("S", {{"t", "d", Json::object()}});
  Context b("S", {{"t", "d", Json::object()}});
  b.Append(UserMessage("x"));
  EXPECT_EQ(a.PrefixHash(), b.PrefixHash());
  Context c("S2", {{"t", "d", Json::object()}});
  EXPECT_NE(a.PrefixHash(), c.PrefixHash());
}

TEST(ContextTest, UnansweredToolCallsAreThoseWithoutResults) {
  Context ctx("S", {});
  ctx.Append(UserMessage("task"));
  EXPECT_TRUE(ctx.UnansweredToolCalls().empty());
  ctx.Append(AssistantCalls({{"c1", "a", "{}"}, {"c2", "b", "{}"}}));
  ctx.Append(ToolResultMessage("c1", "done"));
  auto open = ctx.UnansweredToolCalls();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, "c2");
  ctx.Append(ToolResultMessage("c2", "done"));
  EXPECT_TRUE(ctx.UnansweredToolCalls().empty());
}

TEST(ContextTest, ToolSpecsRoundTripThroughJson) {
  std::vector<ToolSpec> specs = {{"read_file", "Reads.", Json{{"type", "object"}}}};
  auto back = ToolSpecsFromJson(ToolSpecsToJson(specs));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].name, "read_file");
  EXPECT_EQ(back[0].parameters, specs[0].parameters);
}

}  // namespace
}  // namespace dsagent
