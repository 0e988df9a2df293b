#include "agent/ui/fold.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/ui/diff_view.h"
#include "agent/ui/screen.h"
#include "tests/agent/ui/ui_test_util.h"

namespace dsagent {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Numbered(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

TEST(FoldTest, ShortTextIsKept) {
  const FoldedText f = FoldLines("a\nb\nc\n", 1, 1);
  EXPECT_THAT(f.lines, ElementsAre("a", "b", "c"));
  EXPECT_FALSE(f.marker.has_value());
  EXPECT_EQ(f.total_lines, 3u);
}

TEST(FoldTest, LongTextKeepsHeadAndTailAroundOneMarker) {
  const FoldedText f = FoldLines(Numbered(100), 3, 2);
  EXPECT_THAT(f.lines, ElementsAre("line 1", "line 2", "line 3", "… 95 lines folded", "line 99",
                                   "line 100"));
  EXPECT_EQ(f.marker, 3u);
  EXPECT_EQ(f.total_lines, 100u);
}

TEST(FoldTest, CountsLines) {
  EXPECT_EQ(CountTextLines(""), 0u);
  EXPECT_EQ(CountTextLines("x"), 1u);
  EXPECT_EQ(CountTextLines("x\n"), 1u);
  EXPECT_EQ(CountTextLines("x\ny"), 2u);
}

const char* kDiff =
    "--- a/add.c\n+++ b/add.c\n@@ -1,3 +1,3 @@\n int add(int a, int b) {\n-  return a - b;\n+  "
    "return a + b;\n }\n";

TEST(DiffViewTest, CountsAddedAndRemovedLines) {
  const DiffCounts c = CountDiffLines(kDiff);
  EXPECT_EQ(c.added, 1u);
  EXPECT_EQ(c.removed, 1u);
}

TEST(DiffViewTest, ColoursOnlyWhenTheScreenHasColour) {
  testing::MemoryScreen plain;
  ShowDiff(plain.screen(), kDiff, 40);
  EXPECT_THAT(plain.text(), Not(HasSubstr("\033[")));
  EXPECT_THAT(plain.text(), HasSubstr("  -  return a - b;\n"));

  testing::MemoryScreen color({.tty = true, .color = true, .width = 80});
  ShowDiff(color.screen(), kDiff, 40);
  EXPECT_THAT(color.text(), HasSubstr("\033[31m-  return a - b;\033[0m"));
  EXPECT_THAT(color.text(), HasSubstr("\033[32m+  return a + b;\033[0m"));
  EXPECT_THAT(color.text(), HasSubstr("\033[36m@@ -1,3 +1,3 @@\033[0m"));
}

TEST(DiffViewTest, LongDiffsFoldAndLinesFitTheWidth) {
  std::string diff = "--- a/x\n+++ b/x\n@@ -1,0 +1,200 @@\n";
  for (int i = 0; i < 200; ++i) diff += "+" + std::string(200, 'x') + "\n";
  testing::MemoryScreen narrow({.tty = false, .color = false, .width = 40});
  ShowDiff(narrow.screen(), diff, 30);
  const std::string out = narrow.text();
  EXPECT_THAT(out, HasSubstr("lines folded"));
  size_t lines = 0;
  for (size_t start = 0; start < out.size();) {
    const size_t end = out.find('\n', start);
    EXPECT_LE(DisplayWidth(out.substr(start, end - start)), 40u);
    start = end + 1;
    ++lines;
  }
  EXPECT_LE(lines, 31u);
}

TEST(ScreenTest, FitWidthCutsOnCodePoints) {
  EXPECT_EQ(FitWidth("abcdef", 4), "abc…");
  EXPECT_EQ(FitWidth("abc", 4), "abc");
  EXPECT_EQ(FitWidth("ééééé", 3), "éé…");
  EXPECT_EQ(FitWidth("abcdef", 0), "abcdef");
}

TEST(ScreenTest, PlainOutputNeverRewritesLines) {
  testing::MemoryScreen plain;
  plain.screen().Rewrite("thinking…");
  plain.screen().ClearRewritten();
  EXPECT_EQ(plain.text(), "");
}

}  // namespace
}  // namespace dsagent
