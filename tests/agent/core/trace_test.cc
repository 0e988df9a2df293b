#include "agent/core/trace.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {

TEST(TraceTest, AppendsOneEventPerLineAndReadsThemBack) {
  TempDir dir;
  const auto path = dir.path() / "sessions" / "s.jsonl";
  {
    auto w = TraceWriter::Open(path);
    ASSERT_TRUE(w) << w.error();
    ASSERT_TRUE(w->Append({{"type", "a"}, {"n", 1}}));
    ASSERT_TRUE(w->Append({{"type", "b"}, {"text", "multi\nline"}}));
  }
  auto r = ReadTrace(path);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[0]["type"], "a");
  EXPECT_EQ(r->events[1]["text"], "multi\nline");
  EXPECT_TRUE(r->events[0].contains("ts"));
  EXPECT_FALSE(r->torn_tail);
}

// A deferred event is written at once (readers see it) and waits for the next synced one.
TEST(TraceTest, DeferredEventsAreWrittenInOrderAndSyncedWithTheNextEvent) {
  TempDir dir;
  const auto path = dir.path() / "s.jsonl";
  auto w = TraceWriter::Open(path);
  ASSERT_TRUE(w) << w.error();
  EXPECT_EQ(w->synced_bytes(), 0u);
  ASSERT_TRUE(w->Append({{"type", "request"}}, TraceSync::kWithNextEvent));
  EXPECT_TRUE(w->has_unsynced_events());
  EXPECT_EQ(w->synced_bytes(), 0u);  // a power loss now could take the line
  auto mid = ReadTrace(path);
  ASSERT_TRUE(mid) << mid.error();
  ASSERT_EQ(mid->events.size(), 1u);
  ASSERT_TRUE(w->Append({{"type", "response"}}));
  EXPECT_FALSE(w->has_unsynced_events());
  EXPECT_EQ(w->synced_bytes(), std::filesystem::file_size(path));
  ASSERT_TRUE(w->Append({{"type", "route"}}, TraceSync::kWithNextEvent));
  const uint64_t synced = w->synced_bytes();
  EXPECT_LT(synced, std::filesystem::file_size(path));
  TraceWriter moved = std::move(*w);  // the pending sync moves with the file
  EXPECT_TRUE(moved.has_unsynced_events());
  EXPECT_EQ(moved.synced_bytes(), synced);
  EXPECT_FALSE(w->has_unsynced_events());
  auto r = ReadTrace(path);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->events[0]["type"], "request");
  EXPECT_EQ(r->events[1]["type"], "response");
  EXPECT_EQ(r->events[2]["type"], "route");
}

TEST(TraceTest, TornLastLineIsIgnoredOnReadAndCutOnReopen) {
  TempDir dir;
  const auto path = dir.path() / "s.jsonl";
  {
    auto w = TraceWriter::Open(path);
    ASSERT_TRUE(w->Append({{"type", "a"}}));
  }
  std::ofstream(path, std::ios::app) << "{\"type\":\"b\",\"trunc";  // a crash mid-write
  auto r = ReadTrace(path);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->events.size(), 1u);
  EXPECT_TRUE(r->torn_tail);

  {
    auto w = TraceWriter::Open(path);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->synced_bytes(), std::filesystem::file_size(path));  // the torn line is gone
    ASSERT_TRUE(w->Append({{"type", "c"}}));
  }
  auto again = ReadTrace(path);
  ASSERT_TRUE(again) << again.error();
  ASSERT_EQ(again->events.size(), 2u);
  EXPECT_EQ(again->events[1]["type"], "c");
  EXPECT_FALSE(again->torn_tail);
}

TEST(TraceTest, DamagedMiddleLineIsAnErrorNamingTheLine) {
  TempDir dir;
  const auto path = dir.path() / "s.jsonl";
  std::ofstream(path) << "{\"type\":\"a\"}\nnot json\n{\"type\":\"b\"}\n";
  auto r = ReadTrace(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("line 2"), std::string::npos) << r.error();
}

TEST(TraceTest, MissingFileIsAnError) {
  TempDir dir;
  EXPECT_FALSE(ReadTrace(dir.path() / "nope.jsonl"));
}

TEST(TraceTest, UnwritableLocationIsAnErrorNotACrash) {
  auto w = TraceWriter::Open("/proc/dsagent-cannot-write-here/s.jsonl");
  EXPECT_FALSE(w);
}

}  // namespace
}  // namespace dsagent
