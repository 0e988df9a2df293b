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

// As the router has always counted the context: ceil(bytes / 4) of the canonical JSON of the
// tool schemas followed by every message.
int64_t TokensCountedWhole(const Context& ctx) {
  const Request r = ctx.BuildRequest({"m", true, "high"}, 0, "");
  Json items = ToolSpecsToJson(r.tools);
  for (const auto& m : r.messages) items.push_back(MessageToJson(m));
  return static_cast<int64_t>((CanonicalJson(items).size() + 3) / 4);
}

TEST(ContextTest, EstimatedTokensFollowTheLogAsItGrows) {
  Context ctx("SYSTEM", {{"bash", "Runs.", Json{{"type", "object"}}}});
  EXPECT_EQ(ctx.EstimatedTokens(), TokensCountedWhole(ctx));
  ctx.Append(UserMessage("task with \"quotes\" and ünïcode"));
  ctx.Append(AssistantCalls({{"c1", "bash", "{\"command\":\"ls\"}"}}));
  ctx.Append(ToolResultMessage("c1", std::string(1000, 'x')));
  EXPECT_EQ(ctx.EstimatedTokens(), TokensCountedWhole(ctx));
}

TEST(ContextTest, SetToolsKeepsTheGivenOrderAndUpdatesHashAndEstimate) {
  Context ctx("SYSTEM",
              {{"bash", "Runs.", Json{{"type", "object"}}}, {"mcp__s__b", "b", Json::object()}});
  ctx.Append(UserMessage("task"));
  const std::string before = ctx.PrefixHash();
  ctx.SetTools({{"bash", "Runs.", Json{{"type", "object"}}},
                {"mcp__s__b", "b", Json::object()},
                {"mcp__s__a", "a new tool with a longer description", Json::object()}});
  ASSERT_EQ(ctx.tools().size(), 3u);
  EXPECT_EQ(ctx.tools()[2].name, "mcp__s__a");  // appended, not sorted in
  EXPECT_NE(ctx.PrefixHash(), before);
  EXPECT_EQ(ctx.EstimatedTokens(), TokensCountedWhole(ctx));
  ctx.SetTools({{"bash", "Runs.", Json{{"type", "object"}}}});
  EXPECT_EQ(ctx.EstimatedTokens(), TokensCountedWhole(ctx));
}

// A session of `steps` bash calls, each with a 4000-byte result, then a final question.
Context SessionWithResults(int steps) {
  Context ctx("S", {});
  ctx.Append(UserMessage("task"));
  for (int i = 0; i < steps; ++i) {
    const std::string id = "c" + std::to_string(i);
    ctx.Append(AssistantCalls({{id, "bash", "{\"command\":\"cat f" + std::to_string(i) + "\"}"}}));
    ctx.Append(ToolResultMessage(id, std::string(4000, static_cast<char>('a' + i))));
  }
  return ctx;
}

TEST(ContextTest, CompactionElidesTheOldestToolResultsWithStubsThatSayHowToGetThemBack) {
  Context ctx = SessionWithResults(6);
  const int64_t before = ctx.EstimatedTokens();
  const Request old = ctx.BuildRequest({"m", true, "high"}, 0, "");
  const Compaction c = ctx.PlanCompaction(before / 2);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c.tokens_before, before);
  EXPECT_LE(c.tokens_after, before / 2);
  // Oldest first: log entries 2, 4, 6, 8 (the results of c0 to c3), in order; just enough.
  ASSERT_EQ(c.replaced.size(), 4u);
  EXPECT_EQ(c.replaced[0].index, 2u);
  EXPECT_EQ(c.replaced[3].index, 8u);
  EXPECT_GT(c.tokens_after + 1000, before / 2);
  EXPECT_NE(c.replaced[0].content.find("4000 bytes of output of bash {\"command\":\"cat f0\"}"),
            std::string::npos)
      << c.replaced[0].content;
  EXPECT_NE(c.replaced[0].content.find("Re-run the command"), std::string::npos);
  // What is sent uncached once: everything from the first stub on.
  EXPECT_GT(c.uncached_tokens, 0);
  EXPECT_LT(c.uncached_tokens, c.tokens_after);

  ASSERT_TRUE(ctx.ApplyCompaction(c));
  EXPECT_EQ(ctx.EstimatedTokens(), c.tokens_after);
  EXPECT_EQ(ctx.EstimatedTokens(), TokensCountedWhole(ctx));
  EXPECT_EQ(ctx.log()[2].content, c.replaced[0].content);
  EXPECT_EQ(ctx.log()[10].content, std::string(4000, 'e'));  // c4's result is kept
  // A request built before the compaction still holds the original output.
  EXPECT_EQ(old.messages[3].content, std::string(4000, 'a'));
  // Stubs are not elided again; the next compaction continues with the next oldest result.
  const Compaction next = ctx.PlanCompaction(ctx.EstimatedTokens() - 100);
  ASSERT_EQ(next.replaced.size(), 1u);
  EXPECT_EQ(next.replaced[0].index, 10u);
}

TEST(ContextTest, ResultsTheModelHasNotSeenAreNeverElided) {
  Context ctx = SessionWithResults(2);
  // The last assistant message is c1's call: its result is news to the model.
  const Compaction c = ctx.PlanCompaction(0);
  ASSERT_EQ(c.replaced.size(), 1u);
  EXPECT_EQ(c.replaced[0].index, 2u);
}

TEST(ContextTest, CompactionRoundTripsThroughItsTraceEventAndRejectsWrongIndices) {
  Context ctx = SessionWithResults(3);
  const Compaction c = ctx.PlanCompaction(0);
  auto back = CompactionFromJson(CompactionToJson(c));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->replaced.size(), c.replaced.size());
  EXPECT_EQ(back->replaced[1].content, c.replaced[1].content);
  EXPECT_EQ(back->uncached_tokens, c.uncached_tokens);
  Compaction wrong;
  wrong.replaced.push_back({0, "stub"});  // the user's task, not a tool result
  auto applied = ctx.ApplyCompaction(wrong);
  ASSERT_FALSE(applied);
  EXPECT_NE(applied.error().find("not a tool result"), std::string::npos);
  EXPECT_FALSE(CompactionFromJson(Json{{"replaced", {{{"index", -1}}}}}));
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
