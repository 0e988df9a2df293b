#include "engine/tokenizer/added_token_matcher.h"

#include <gtest/gtest.h>

namespace dsagent::engine {
namespace {

TEST(AddedTokenMatcherTest, LeftmostThenLongest) {
  AddedTokenMatcher m;
  m.Add("<a>", 1);
  m.Add("<a><b>", 2);
  m.Add("b>", 3);
  const std::string text = "x<a><b> <a>b>";
  auto first = m.Next(text, 0);
  EXPECT_EQ(first.pos, 1u);
  EXPECT_EQ(first.length, 6u);
  EXPECT_EQ(first.id, 2);
  auto second = m.Next(text, first.pos + first.length);
  EXPECT_EQ(second.pos, 8u);
  EXPECT_EQ(second.id, 1);
  auto third = m.Next(text, second.pos + second.length);
  EXPECT_EQ(third.pos, 11u);
  EXPECT_EQ(third.id, 3);
  EXPECT_EQ(m.Next(text, third.pos + third.length).id, -1);
}

TEST(AddedTokenMatcherTest, PrefixesOfTokensAreNotMatches) {
  AddedTokenMatcher m;
  m.Add("<｜User｜>", 7);
  const std::string text = std::string(1000, '<') + "<｜User" + "<｜User｜>";
  auto hit = m.Next(text, 0);
  EXPECT_EQ(hit.pos, text.size() - std::string("<｜User｜>").size());
  EXPECT_EQ(hit.id, 7);
  EXPECT_EQ(m.Next("", 0).id, -1);
  EXPECT_EQ(AddedTokenMatcher().Next("anything", 0).id, -1);
}

TEST(AddedTokenMatcherTest, AddingTheSameTextAgainReplacesItsId) {
  AddedTokenMatcher m;
  m.Add("<t>", 1);
  m.Add("<t>", 5);
  m.Add("", 9);  // ignored
  EXPECT_EQ(m.Next("a<t>", 0).id, 5);
}

// read_end: how far a result depends on the text. Resuming an encoding after a token is valid
// for another text exactly when it shares these bytes (bpe_tokenizer.h).
TEST(AddedTokenMatcherTest, ReadEndIsHowFarTheAnswerLooked) {
  AddedTokenMatcher m;
  m.Add("<t>", 1);  // no longer token starts with it: nothing after it is read
  m.Add("<x>", 2);  // "<x>yz" may follow: the byte after "<x>" is read
  m.Add("<x>yz", 3);
  m.Add("abcd", 4);  // overlaps "bc": the walk from 'a' passes the end of "bc"
  m.Add("bc", 5);
  constexpr size_t kEnd = AddedTokenMatcher::kReadToEnd;

  auto leaf = m.Next("ab<t>", 0);
  EXPECT_EQ(leaf.id, 1);
  EXPECT_EQ(leaf.read_end, 5u);  // the token ends the text, yet nothing past it mattered
  EXPECT_EQ(m.Next("ab<t>zz", 0).read_end, 5u);

  auto prefix = m.Next("ab<x>q", 0);
  EXPECT_EQ(prefix.id, 2);
  EXPECT_EQ(prefix.read_end, 6u);                // 'q' decided that "<x>yz" is not there
  EXPECT_EQ(m.Next("ab<x>", 0).read_end, kEnd);  // "<x>yz" might still follow
  EXPECT_EQ(m.Next("ab<x>y", 0).read_end, kEnd);
  EXPECT_EQ(m.Next("ab<x>yq", 0).read_end, 7u);
  auto longer = m.Next("ab<x>yz", 0);
  EXPECT_EQ(longer.id, 3);
  EXPECT_EQ(longer.read_end, 7u);  // a leaf: complete

  auto overlap = m.Next("abcx", 0);  // "abcd" fails at 'x', then "bc" matches at 1
  EXPECT_EQ(overlap.id, 5);
  EXPECT_EQ(overlap.pos, 1u);
  EXPECT_EQ(overlap.read_end, 4u);  // past the match: 'x' decided it was not "abcd"
  auto cut = m.Next("abc", 0);      // ... and where the text ends there, "abcd" might follow
  EXPECT_EQ(cut.id, 5);
  EXPECT_EQ(cut.read_end, kEnd);

  EXPECT_EQ(m.Next("ab<t>", 2).read_end, 5u);  // from a later start, the same
  EXPECT_EQ(m.Next("plain", 0).id, -1);
}

}  // namespace
}  // namespace dsagent::engine
