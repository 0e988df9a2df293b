#include "common/utf8.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

TEST(Utf8Test, ValidTextIsUnchanged) {
  const std::string s = "plain ascii, ümlaut, 中文, emoji \xF0\x9F\x98\x80";
  EXPECT_EQ(SanitizeUtf8(s), s);
}

TEST(Utf8Test, InvalidBytesBecomeReplacementCharacter) {
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xC3"), "\xEF\xBF\xBD");                  // truncated sequence
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST(Utf8Test, SafePrefixDoesNotSplitSequences) {
  const std::string s = "ab\xE4\xB8\xAD";  // "ab中"
  EXPECT_EQ(Utf8SafePrefixLength(s, 3), 2u);
  EXPECT_EQ(Utf8SafePrefixLength(s, 4), 2u);
  EXPECT_EQ(Utf8SafePrefixLength(s, 5), 5u);
  EXPECT_EQ(Utf8SafePrefixLength(s, 100), 5u);
}

}  // namespace
}  // namespace dsagent
