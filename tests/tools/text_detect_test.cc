#include "tools/text_detect.h"

#include <gtest/gtest.h>

#include "tools/similarity.h"

namespace dsagent {
namespace {

TEST(TextDetectTest, NulMeansBinary) { EXPECT_TRUE(LooksBinary(std::string("text\0more", 9))); }

TEST(TextDetectTest, Utf8AndMostlyAsciiAreText) {
  EXPECT_FALSE(LooksBinary(""));
  EXPECT_FALSE(LooksBinary("plain ascii\n"));
  EXPECT_FALSE(LooksBinary("caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80\n"));
  EXPECT_FALSE(LooksBinary("latin-1 caf\xE9 in a longer line of text\n"));
  EXPECT_FALSE(LooksBinary("a real replacement char \xEF\xBF\xBD is valid"));
}

TEST(TextDetectTest, MostlyInvalidUtf8IsBinary) {
  std::string noise;
  for (int i = 0; i < 100; ++i) noise += static_cast<char>(0xFF - i % 3);
  EXPECT_TRUE(LooksBinary(noise));
}

TEST(SimilarityTest, EditDistanceAndRatio) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_DOUBLE_EQ(Similarity("abc", "abc"), 1.0);
  EXPECT_DOUBLE_EQ(Similarity("", ""), 1.0);
  EXPECT_DOUBLE_EQ(Similarity("abcd", "abcf"), 0.75);
}

}  // namespace
}  // namespace dsagent
