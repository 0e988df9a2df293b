#include "engine/generate/text_stream.h"

#include <gtest/gtest.h>

namespace dsagent::engine {
namespace {

TEST(TextStreamTest, NeverEmitsHalfACharacter) {
  TextStream s;
  const std::string euro = "\xE2\x82\xAC";  // €, 3 bytes, split over three tokens
  EXPECT_EQ(s.Append("a\xE2"), "a");
  EXPECT_EQ(s.Append("\x82"), "");
  EXPECT_EQ(s.Append("\xAC"
                     "b"),
            euro + "b");
  EXPECT_EQ(s.Flush(), "");
}

TEST(TextStreamTest, InvalidBytesBecomeReplacementCharacters) {
  TextStream s;
  EXPECT_EQ(s.Append("x\x80y"), "x\xEF\xBF\xBDy");
  EXPECT_EQ(s.Append("\xF0\x9F"), "");               // an unfinished emoji is held
  EXPECT_EQ(s.Flush(), "\xEF\xBF\xBD\xEF\xBF\xBD");  // and replaced at the end
}

TEST(TextStreamTest, StopStringsAreHeldBackAndCut) {
  TextStream s({"STOP", "\n\n"});
  EXPECT_EQ(s.Append("hello ST"), "hello ");
  EXPECT_EQ(s.Append("O"), "");
  EXPECT_EQ(s.Append("NE more"), "STONE more");  // not a stop after all
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.Append(" end\n"), " end");
  EXPECT_EQ(s.Append("\nignored"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.matched_stop(), "\n\n");
  EXPECT_EQ(s.Append("more"), "");
}

TEST(TextStreamTest, EarliestStopWins) {
  TextStream s({"bc", "ab"});
  EXPECT_EQ(s.Append("xabc"), "x");
  EXPECT_EQ(s.matched_stop(), "ab");
}

TEST(TextStreamTest, CompletePrefixLength) {
  EXPECT_EQ(CompleteUtf8PrefixLength(""), 0u);
  EXPECT_EQ(CompleteUtf8PrefixLength("ab"), 2u);
  EXPECT_EQ(CompleteUtf8PrefixLength("a\xC3"), 1u);
  EXPECT_EQ(CompleteUtf8PrefixLength("a\xC3\xA9"), 3u);
  EXPECT_EQ(CompleteUtf8PrefixLength("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(CompleteUtf8PrefixLength("\xF0\x9F\x98\x80"), 4u);
}

}  // namespace
}  // namespace dsagent::engine
