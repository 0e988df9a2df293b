#include "tools/glob_pattern.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

TEST(GlobPatternTest, ComponentWildcards) {
  EXPECT_TRUE(GlobMatchComponent("*.cc", "a.cc"));
  EXPECT_TRUE(GlobMatchComponent("*.cc", ".cc"));
  EXPECT_FALSE(GlobMatchComponent("*.cc", "a.cch"));
  EXPECT_TRUE(GlobMatchComponent("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(GlobMatchComponent("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(GlobMatchComponent("?.h", "x.h"));
  EXPECT_FALSE(GlobMatchComponent("?.h", "xy.h"));
  EXPECT_TRUE(GlobMatchComponent("[a-c]x", "bx"));
  EXPECT_FALSE(GlobMatchComponent("[a-c]x", "dx"));
  EXPECT_TRUE(GlobMatchComponent("[!a-c]x", "dx"));
  EXPECT_TRUE(GlobMatchComponent("[^a]x", "bx"));
  EXPECT_TRUE(GlobMatchComponent("[]]", "]"));
  EXPECT_TRUE(GlobMatchComponent("a[b", "a[b"));  // unterminated class: literal
  EXPECT_TRUE(GlobMatchComponent("*", ""));
}

TEST(GlobPatternTest, PathsAndDoubleStar) {
  EXPECT_TRUE(GlobPattern("**/*.cc").Matches("a.cc"));
  EXPECT_TRUE(GlobPattern("**/*.cc").Matches("x/y/z/a.cc"));
  EXPECT_FALSE(GlobPattern("*.cc").Matches("x/a.cc"));
  EXPECT_TRUE(GlobPattern("src/**/test/*.py").Matches("src/test/a.py"));
  EXPECT_TRUE(GlobPattern("src/**/test/*.py").Matches("src/a/b/test/a.py"));
  EXPECT_FALSE(GlobPattern("src/**/test/*.py").Matches("lib/test/a.py"));
  EXPECT_TRUE(GlobPattern("**").Matches("anything/at/all"));
  EXPECT_TRUE(GlobPattern("./src//a.cc").Matches("src/a.cc"));
  EXPECT_FALSE(GlobPattern("src/*").Matches("src"));
}

TEST(GlobPatternTest, PruningHelpers) {
  GlobPattern p("src/*/impl/*.cc");
  EXPECT_TRUE(p.CouldMatchBelow("src"));
  EXPECT_TRUE(p.CouldMatchBelow("src/net"));
  EXPECT_TRUE(p.CouldMatchBelow("src/net/impl"));
  EXPECT_FALSE(p.CouldMatchBelow("lib"));
  EXPECT_FALSE(p.CouldMatchBelow("src/net/other"));
  EXPECT_FALSE(p.CouldMatchBelow("src/net/impl/deeper"));
  EXPECT_EQ(p.LiteralDirectoryPrefix(), "src");
  EXPECT_EQ(p.MaxDepth(), 4);
  EXPECT_EQ(GlobPattern("a/b/**/c").MaxDepth(), 0);
  EXPECT_EQ(GlobPattern("a/b/**/c").LiteralDirectoryPrefix(), "a/b");
  EXPECT_EQ(GlobPattern("main.cc").LiteralDirectoryPrefix(), "");
  EXPECT_TRUE(GlobPattern("**/x").CouldMatchBelow("any/dir"));
}

}  // namespace
}  // namespace dsagent
