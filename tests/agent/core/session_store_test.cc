#include "agent/core/session_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "agent/core/trace.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {

void WriteSession(const std::filesystem::path& path, const std::string& id, bool finished) {
  auto w = TraceWriter::Open(path);
  ASSERT_TRUE(w);
  Context ctx("SYS", {{"bash", "Runs.", Json{{"type", "object"}}}});
  ASSERT_TRUE(w->Append({{"type", "session_start"},
                         {"session_id", id},
                         {"repo", "/r"},
                         {"system_prompt", "SYS"},
                         {"tools", ToolSpecsToJson(ctx.tools())}}));
  ASSERT_TRUE(w->Append({{"type", "message"}, {"message", MessageToJson(UserMessage("fix it"))}}));
  Message a;
  a.role = Role::kAssistant;
  a.reasoning = "think";
  a.has_reasoning = true;
  a.tool_calls = {{"c1", "bash", "{\"command\":\"make\"}"}};
  ASSERT_TRUE(w->Append({{"type", "response"}, {"cost_usd", 0.5}, {"message", MessageToJson(a)}}));
  if (finished) {
    ASSERT_TRUE(
        w->Append({{"type", "tool"}, {"message", MessageToJson(ToolResultMessage("c1", "ok"))}}));
    ASSERT_TRUE(w->Append({{"type", "end"}, {"termination_reason", "done"}}));
  }
}

TEST(SessionStoreTest, NewIdsAreSortableAndDistinct) {
  const std::string a = NewSessionId(), b = NewSessionId();
  EXPECT_TRUE(std::regex_match(a, std::regex(R"(\d{8}-\d{6}-[0-9a-f]{6})"))) << a;
  EXPECT_NE(a, b);
}

TEST(SessionStoreTest, LoadRebuildsTheContextExactly) {
  TempDir dir;
  WriteSession(dir.path() / "s1.jsonl", "s1", /*finished=*/false);
  auto s = LoadSession(dir.path() / "s1.jsonl");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->id, "s1");
  EXPECT_EQ(s->context.system_prompt(), "SYS");
  ASSERT_EQ(s->context.tools().size(), 1u);
  ASSERT_EQ(s->context.log().size(), 2u);
  EXPECT_EQ(s->context.log()[1].reasoning, "think");
  EXPECT_EQ(s->context.log()[1].tool_calls[0].arguments, "{\"command\":\"make\"}");
  EXPECT_EQ(s->context.UnansweredToolCalls().size(), 1u);
}

// A compaction recorded in the trace is replayed at its place, so the resumed context is the
// compacted one, and messages after it continue on the new prefix.
TEST(SessionStoreTest, LoadReplaysACompactionAtItsPlaceInTheTrace) {
  TempDir dir;
  const auto path = dir.path() / "s2.jsonl";
  WriteSession(path, "s2", /*finished=*/true);
  {
    auto w = TraceWriter::Open(path);
    ASSERT_TRUE(w);
    Compaction forced;
    forced.replaced.push_back({2, "[stub for c1]"});
    Json event = CompactionToJson(forced);
    event["type"] = "compaction";
    ASSERT_TRUE(w->Append(event));
    ASSERT_TRUE(w->Append({{"type", "message"}, {"message", MessageToJson(UserMessage("again"))}}));
  }
  auto again = LoadSession(path);
  ASSERT_TRUE(again) << again.error();
  ASSERT_EQ(again->context.log().size(), 4u);
  EXPECT_EQ(again->context.log()[2].content, "[stub for c1]");
  EXPECT_EQ(again->context.log()[2].tool_call_id, "c1");
  EXPECT_EQ(again->context.log()[3].content, "again");
}

TEST(SessionStoreTest, LoadRejectsACompactionThatDoesNotMatchTheLog) {
  TempDir dir;
  const auto path = dir.path() / "s3.jsonl";
  WriteSession(path, "s3", /*finished=*/true);
  {
    auto w = TraceWriter::Open(path);
    ASSERT_TRUE(w);
    ASSERT_TRUE(
        w->Append({{"type", "compaction"}, {"replaced", {{{"index", 0}, {"content", "x"}}}}}));
  }
  auto s = LoadSession(path);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("not a tool result"), std::string::npos) << s.error();
}

TEST(SessionStoreTest, FindAcceptsUniquePrefixAndRejectsHostileIds) {
  TempDir dir;
  WriteSession(dir.path() / "20260101-000000-aaaaaa.jsonl", "20260101-000000-aaaaaa", true);
  WriteSession(dir.path() / "20260101-000000-abbbbb.jsonl", "20260101-000000-abbbbb", true);
  EXPECT_TRUE(FindSessionTrace(dir.path(), "20260101-000000-aa"));
  auto ambiguous = FindSessionTrace(dir.path(), "20260101-000000-a");
  ASSERT_FALSE(ambiguous);
  EXPECT_NE(ambiguous.error().find("ambiguous"), std::string::npos);
  EXPECT_FALSE(FindSessionTrace(dir.path(), "../etc/passwd"));
  EXPECT_FALSE(FindSessionTrace(dir.path(), "zzz"));
}

TEST(SessionStoreTest, ListSummarisesNewestFirstAndFlagsDamage) {
  TempDir dir;
  WriteSession(dir.path() / "20260101-000000-aaaaaa.jsonl", "20260101-000000-aaaaaa", true);
  WriteSession(dir.path() / "20260102-000000-bbbbbb.jsonl", "20260102-000000-bbbbbb", false);
  std::ofstream(dir.path() / "20260103-000000-cccccc.jsonl") << "garbage\n{}\n";
  auto list = ListSessions(dir.path());
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].status, "unreadable");
  EXPECT_EQ(list[1].status, "incomplete");
  EXPECT_EQ(list[2].status, "done");
  EXPECT_EQ(list[2].task, "fix it");
  EXPECT_EQ(list[2].steps, 1);
  EXPECT_DOUBLE_EQ(list[2].cost_usd, 0.5);
}

TEST(SessionStoreTest, TraceWithoutStartIsAClearError) {
  TempDir dir;
  std::ofstream(dir.path() / "x.jsonl") << "{\"type\":\"message\"}\n";
  auto s = LoadSession(dir.path() / "x.jsonl");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("session_start"), std::string::npos);
}

}  // namespace
}  // namespace dsagent
