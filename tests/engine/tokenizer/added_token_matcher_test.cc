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

}  // namespace
}  // namespace dsagent::engine
