#include "tools/unified_diff.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {

std::string Numbered(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += "l" + std::to_string(i) + "\n";
  return s;
}

TEST(UnifiedDiffTest, EqualTextsGiveNothing) {
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "a", "b"), "");
}

TEST(UnifiedDiffTest, OneChangedLineWithThreeLinesOfContext) {
  std::string old_text = Numbered(1, 10);
  std::string new_text = old_text;
  new_text.replace(new_text.find("l5\n"), 3, "X\n");
  EXPECT_EQ(UnifiedDiff(old_text, new_text, "a/f", "b/f"),
            "--- a/f\n+++ b/f\n"
            "@@ -2,7 +2,7 @@\n l2\n l3\n l4\n-l5\n+X\n l6\n l7\n l8\n");
}

TEST(UnifiedDiffTest, NewFileFromNothing) {
  EXPECT_EQ(UnifiedDiff("", "a\nb\n", "/dev/null", "b/f"),
            "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n");
}

TEST(UnifiedDiffTest, DeletedEverything) {
  EXPECT_EQ(UnifiedDiff("a\n", "", "a/f", "b/f"), "--- a/f\n+++ b/f\n@@ -1 +0,0 @@\n-a\n");
}

TEST(UnifiedDiffTest, MissingFinalNewlineIsMarked) {
  EXPECT_EQ(UnifiedDiff("a\nb", "a\nc", "a/f", "b/f"),
            "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
            "\\ No newline at end of file\n");
  // Adding the newline is a change of the last line.
  EXPECT_EQ(UnifiedDiff("a", "a\n", "a/f", "b/f"),
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n");
}

TEST(UnifiedDiffTest, DistantChangesMakeTwoHunksCloseOnesMerge) {
  const std::string old_text = Numbered(1, 30);
  std::string far = old_text;
  far.replace(far.find("l3\n"), 3, "A\n");
  far.replace(far.find("l25\n"), 4, "B\n");
  const std::string far_diff = UnifiedDiff(old_text, far, "a", "b");
  EXPECT_NE(far_diff.find("@@ -1,6 +1,6 @@"), std::string::npos) << far_diff;
  EXPECT_NE(far_diff.find("@@ -22,7 +22,7 @@"), std::string::npos) << far_diff;

  std::string near = old_text;
  near.replace(near.find("l10\n"), 4, "A\n");
  near.replace(near.find("l16\n"), 4, "B\n");  // 5 equal lines apart: <= 2 x 3 context
  const std::string near_diff = UnifiedDiff(old_text, near, "a", "b");
  EXPECT_NE(near_diff.find("@@ -7,13 +7,13 @@"), std::string::npos) << near_diff;
  EXPECT_EQ(near_diff.find("@@", near_diff.find("@@ -7") + 2), near_diff.rfind("@@"))
      << "expected a single hunk:\n"
      << near_diff;
}

TEST(UnifiedDiffTest, DiffIsMinimalForAnInsertion) {
  const std::string d = UnifiedDiff("a\nb\nc\n", "a\nb\nNEW\nc\n", "x", "y");
  EXPECT_EQ(d, "--- x\n+++ y\n@@ -1,3 +1,4 @@\n a\n b\n+NEW\n c\n");
}

// Round trip through an independent implementation: `git apply` must turn old into new.
TEST(UnifiedDiffTest, RandomEditsApplyWithGitApply) {
  TempDir ws;
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> lines;
    for (int i = 0; i < 40; ++i) lines.push_back("line " + std::to_string(rng() % 8) + "\n");
    std::string old_text, new_text;
    for (const auto& l : lines) old_text += l;
    for (const auto& l : lines) {
      switch (rng() % 6) {
        case 0:
          break;  // delete
        case 1:
          new_text += "inserted " + std::to_string(rng() % 5) + "\n" + l;
          break;
        case 2:
          new_text += "changed\n";
          break;
        default:
          new_text += l;
      }
    }
    if (round % 2) new_text += "no newline at end";
    ws.Write("f.txt", old_text);
    ws.Write("change.diff", UnifiedDiff(old_text, new_text, "a/f.txt", "b/f.txt"));
    ASSERT_EQ(testing::Git(ws, "apply change.diff"), 0) << "round " << round << "\n"
                                                        << ws.Read("change.diff");
    ASSERT_EQ(ws.Read("f.txt"), new_text) << "round " << round;
  }
}

TEST(UnifiedDiffTest, HugeRewriteFallsBackToACorrectDiff) {
  TempDir ws;
  std::string old_text, new_text;
  for (int i = 0; i < 5000; ++i) {
    old_text += "old " + std::to_string(i) + "\n";
    new_text += "new " + std::to_string(i) + "\n";
  }
  ws.Write("f.txt", old_text);
  ws.Write("change.diff", UnifiedDiff(old_text, new_text, "a/f.txt", "b/f.txt"));
  ASSERT_EQ(testing::Git(ws, "apply change.diff"), 0);
  EXPECT_EQ(ws.Read("f.txt"), new_text);
}

}  // namespace
}  // namespace dsagent
