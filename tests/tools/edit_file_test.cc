#include "tools/edit_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

class EditFileTest : public ::testing::Test {
 protected:
  ToolResult Edit(const std::string& path, const std::string& old_string,
                  const std::string& new_string, bool replace_all = false) {
    return tool_->Run({{"path", path},
                       {"old_string", old_string},
                       {"new_string", new_string},
                       {"replace_all", replace_all}},
                      ctx_);
  }

  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
  std::unique_ptr<Tool> tool_ = MakeEditFileTool();
};

TEST_F(EditFileTest, ReplacesAUniqueMatchAndShowsTheDiff) {
  ws_.Write("f.py", "def a():\n    return 1\n\ndef b():\n    return 2\n");
  ToolResult r = Edit("f.py", "    return 2\n", "    return 3\n");
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(ws_.Read("f.py"), "def a():\n    return 1\n\ndef b():\n    return 3\n");
  EXPECT_EQ(r.output,
            "Edited f.py: replaced 1 occurrence (first at line 5)\n"
            "--- a/f.py\n+++ b/f.py\n@@ -2,4 +2,4 @@\n     return 1\n \n def b():\n"
            "-    return 2\n+    return 3\n");
  EXPECT_EQ(r.details["replacements"], 1);
}

TEST_F(EditFileTest, NoMatchShowsTheMostSimilarLines) {
  ws_.Write("f.cc", "int main() {\n  int counter = 0;\n  return counter;\n}\n");
  ToolResult r = Edit("f.cc", "  int countr = 0;\n", "  int counter = 1;\n");
  ASSERT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("old_string was not found in 'f.cc'"));
  EXPECT_THAT(r.output, HasSubstr("     2\t  int counter = 0;\n"));
  EXPECT_EQ(ws_.Read("f.cc"), "int main() {\n  int counter = 0;\n  return counter;\n}\n");
}

TEST_F(EditFileTest, NoMatchButWhitespaceInsensitiveMatchShowsExactText) {
  ws_.Write("f.py", "x = 1\nif x:\n\tprint(x)\n\tprint(2)\n");
  ToolResult r = Edit("f.py", "if x:\n    print(x)\n", "if x:\n    pass\n");
  ASSERT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("whitespace is ignored"));
  EXPECT_THAT(r.output, HasSubstr("     2\tif x:\n     3\t\tprint(x)\n"));
}

TEST_F(EditFileTest, NothingSimilarSaysSo) {
  ws_.Write("f.txt", "alpha\n");
  ToolResult r = Edit("f.txt", "completely unrelated text here", "y");
  ASSERT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("No similar text"));
}

TEST_F(EditFileTest, SeveralMatchesAreListedByLine) {
  ws_.Write("f.txt", "x\nfoo\ny\nfoo\nfoo\n");
  ToolResult r = Edit("f.txt", "foo", "bar");
  ASSERT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("occurs 3 times"));
  EXPECT_THAT(r.output, HasSubstr("lines 2, 4, 5"));
  EXPECT_THAT(r.output, HasSubstr("replace_all"));
  EXPECT_EQ(ws_.Read("f.txt"), "x\nfoo\ny\nfoo\nfoo\n");
}

TEST_F(EditFileTest, ReplaceAllReplacesEveryOccurrence) {
  ws_.Write("f.txt", "foo foo\nfoo\n");
  ToolResult r = Edit("f.txt", "foo", "bar", true);
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(ws_.Read("f.txt"), "bar bar\nbar\n");
  EXPECT_THAT(r.output, HasSubstr("replaced 3 occurrences"));
}

TEST_F(EditFileTest, IdenticalStringsAreRefused) {
  ws_.Write("f.txt", "a\n");
  ToolResult r = Edit("f.txt", "a", "a");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("identical"));
}

TEST_F(EditFileTest, EmptyOldStringCreatesAMissingFile) {
  ToolResult r = Edit("new/file.txt", "", "hello\n");
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(ws_.Read("new/file.txt"), "hello\n");
  EXPECT_THAT(r.output, HasSubstr("Created new/file.txt"));
  EXPECT_THAT(r.output, HasSubstr("+hello"));
  EXPECT_EQ(r.details["created"], true);
}

TEST_F(EditFileTest, EmptyOldStringOnAFileWithContentIsRefused) {
  ws_.Write("f.txt", "content\n");
  ToolResult r = Edit("f.txt", "", "x");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(ws_.Read("f.txt"), "content\n");
}

TEST_F(EditFileTest, MissingFileIsAnError) {
  ToolResult r = Edit("nope.txt", "a", "b");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("does not exist"));
}

TEST_F(EditFileTest, CrlfFileMatchesLfOldStringAndStaysCrlf) {
  ws_.Write("win.txt", "one\r\ntwo\r\nthree\r\n");
  ToolResult r = Edit("win.txt", "one\ntwo\n", "one\n2\n");
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(ws_.Read("win.txt"), "one\r\n2\r\nthree\r\n");
}

TEST_F(EditFileTest, GitInternalsAndEscapesAreRefused) {
  ws_.Write(".git/HEAD", "ref: refs/heads/main\n");
  EXPECT_FALSE(Edit(".git/HEAD", "main", "evil").ok);
  EXPECT_EQ(ws_.Read(".git/HEAD"), "ref: refs/heads/main\n");
  EXPECT_FALSE(Edit("../x", "", "y").ok);
}

TEST_F(EditFileTest, LongDiffIsCappedInOutputButCompleteInDetails) {
  ctx_.output_cap_bytes = 200;
  std::string content;
  for (int i = 0; i < 100; ++i) content += "line " + std::to_string(i) + "\n";
  ws_.Write("f.txt", content);
  ToolResult r = Edit("f.txt", content, "short\n");
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("bytes omitted"));
  EXPECT_THAT(r.details["diff"].get<std::string>(), HasSubstr("-line 50\n"));
  EXPECT_THAT(r.output, Not(HasSubstr("-line 50\n")));
}

}  // namespace
}  // namespace dsagent
