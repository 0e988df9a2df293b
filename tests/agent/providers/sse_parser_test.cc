#include "agent/providers/sse_parser.h"

#include <gtest/gtest.h>

#include <vector>

namespace dsagent {
namespace {

struct Collected {
  std::vector<SseEvent> events;
  SseParser parser{[this](const SseEvent& e) {
    events.push_back(e);
    return true;
  }};
};

// A DeepSeek-like stream: keep-alive comments and blank lines before the first chunk, then data
// events with mixed line endings, a named event, a multi-line event and [DONE].
const std::string kStream =
    ": keep-alive\n\n\n"
    ": keep-alive\r\n\r\n"
    "data: {\"a\":1}\n\n"
    "data: {\"b\":\"\xE4\xB8\xAD\"}\r\n\r\n"
    "event: message_delta\r"
    "data: {\"c\":3}\r\r"
    "data: line one\n"
    "data: line two\n\n"
    "data:no-space\n\n"
    "data: [DONE]\n\n";

const std::vector<SseEvent> kExpected = {
    {"", "{\"a\":1}"},
    {"", "{\"b\":\"\xE4\xB8\xAD\"}"},
    {"message_delta", "{\"c\":3}"},
    {"", "line one\nline two"},
    {"", "no-space"},
    {"", "[DONE]"},
};

TEST(SseParserTest, ParsesEventsSkippingKeepAlivesWithAnyLineEnding) {
  Collected c;
  EXPECT_TRUE(c.parser.Feed(kStream));
  EXPECT_TRUE(c.parser.Finish());
  EXPECT_EQ(c.events, kExpected);
}

TEST(SseParserTest, SplitAtEveryByteBoundaryGivesTheSameEvents) {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    Collected c;
    c.parser.Feed(std::string_view(kStream).substr(0, cut));
    c.parser.Feed(std::string_view(kStream).substr(cut));
    c.parser.Finish();
    EXPECT_EQ(c.events, kExpected) << "split at byte " << cut;
  }
  Collected bytewise;
  for (char ch : kStream) bytewise.parser.Feed(std::string_view(&ch, 1));
  bytewise.parser.Finish();
  EXPECT_EQ(bytewise.events, kExpected);
}

TEST(SseParserTest, FinishDispatchesAnUnterminatedEventButDropsAPartialLine) {
  Collected complete_line;
  complete_line.parser.Feed("data: last\n");
  EXPECT_TRUE(complete_line.events.empty());
  complete_line.parser.Finish();
  ASSERT_EQ(complete_line.events.size(), 1u);
  EXPECT_EQ(complete_line.events[0].data, "last");

  Collected cut_line;
  cut_line.parser.Feed("data: {\"a\":1}\n\ndata: {\"trunc");
  cut_line.parser.Finish();
  ASSERT_EQ(cut_line.events.size(), 1u);
  EXPECT_EQ(cut_line.events[0].data, "{\"a\":1}");
}

TEST(SseParserTest, EventNameWithoutDataIsDiscarded) {
  Collected c;
  c.parser.Feed("event: ping\n\ndata: x\n\n");
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].event, "");
}

TEST(SseParserTest, CallbackCanStopParsing) {
  int seen = 0;
  SseParser parser([&](const SseEvent&) { return ++seen < 2; });
  EXPECT_FALSE(parser.Feed("data: 1\n\ndata: 2\n\ndata: 3\n\n"));
  EXPECT_EQ(seen, 2);
  EXPECT_FALSE(parser.Feed("data: 4\n\n"));
  EXPECT_EQ(seen, 2);
}

}  // namespace
}  // namespace dsagent
