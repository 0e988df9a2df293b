#include "tools/git_tools.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

class GitToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(testing::Git(ws_, "init -q"), 0);
    ws_.Write("a.txt", "one\ntwo\nthree\n");
    ws_.Write("docs/b.md", "# title\n");
    ws_.Write(".gitignore", "*.tmp\n");
    ASSERT_EQ(testing::Git(ws_, "add -A"), 0);
    ASSERT_EQ(testing::Git(ws_, "commit -q -m 'Initial commit' -m 'Body text.'"), 0);
    ws_.Write("docs/b.md", "# title\nmore\n");
    ASSERT_EQ(testing::Git(ws_, "commit -q -am 'Extend the docs'"), 0);
    // Working state: a.txt modified (unstaged), c.txt new and staged, d.txt untracked.
    ws_.Write("a.txt", "one\nTWO\nthree\n");
    ws_.Write("c.txt", "staged\n");
    ASSERT_EQ(testing::Git(ws_, "add c.txt"), 0);
    ws_.Write("d.txt", "untracked\n");
    ws_.Write("e.tmp", "ignored\n");
  }
  ToolResult Run(const std::unique_ptr<Tool>& tool, Json args) { return tool->Run(args, ctx_); }

  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
};

TEST_F(GitToolsTest, StatusShowsBranchAndShortCodes) {
  ToolResult r = Run(MakeGitStatusTool(), Json::object());
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, "## main\n M a.txt\nA  c.txt\n?? d.txt\n");
  EXPECT_EQ(r.details["branch"], "main");
}

TEST_F(GitToolsTest, StatusOfACleanTree) {
  ASSERT_EQ(testing::Git(ws_, "commit -q -am 'Everything'"), 0);
  ASSERT_EQ(testing::Git(ws_, "add d.txt"), 0);
  ASSERT_EQ(testing::Git(ws_, "commit -q -m 'd'"), 0);
  EXPECT_EQ(Run(MakeGitStatusTool(), Json::object()).output,
            "## main\nnothing to commit, working tree clean\n");
}

TEST_F(GitToolsTest, DiffShowsUnstagedChangesAsUnifiedDiff) {
  ToolResult r = Run(MakeGitDiffTool(), Json::object());
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("diff --git a/a.txt b/a.txt\n"));
  EXPECT_THAT(r.output,
              HasSubstr("--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"));
  EXPECT_THAT(r.output, Not(HasSubstr("c.txt")));
  EXPECT_EQ(r.details["files"], 1);
}

TEST_F(GitToolsTest, StagedDiffShowsTheIndexAgainstHead) {
  ToolResult r = Run(MakeGitDiffTool(), {{"staged", true}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("+++ b/c.txt\n@@ -0,0 +1 @@\n+staged\n"));
  EXPECT_THAT(r.output, Not(HasSubstr("a.txt")));
}

TEST_F(GitToolsTest, DiffLimitedToAPath) {
  ws_.Write("docs/b.md", "# changed\nmore\n");
  ToolResult only_docs = Run(MakeGitDiffTool(), {{"path", "docs"}});
  EXPECT_THAT(only_docs.output, HasSubstr("docs/b.md"));
  EXPECT_THAT(only_docs.output, Not(HasSubstr("a.txt")));
  ToolResult no_change = Run(MakeGitDiffTool(), {{"path", "c.txt"}});
  EXPECT_THAT(no_change.output, HasSubstr("no unstaged changes"));
  EXPECT_FALSE(Run(MakeGitDiffTool(), {{"path", "../x"}}).ok);
}

TEST_F(GitToolsTest, LogShowsShortIdIsoDateAuthorSubject) {
  ToolResult r = Run(MakeGitLogTool(), Json::object());
  ASSERT_TRUE(r.ok) << r.output;
  const std::string head = testing::GitOutput(ws_, "rev-parse --short HEAD");
  const std::string first = testing::GitOutput(ws_, "rev-parse --short HEAD~1");
  const std::regex line(
      "([0-9a-f]{7,}) \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d[+-]\\d\\d:\\d\\d Test Author: "
      "(.*)\n");
  std::smatch m;
  std::string rest = r.output;
  ASSERT_TRUE(std::regex_search(rest, m, line)) << r.output;
  EXPECT_EQ(m[1].str() + "\n", head);
  EXPECT_EQ(m[2].str(), "Extend the docs");
  rest = m.suffix();
  ASSERT_TRUE(std::regex_search(rest, m, line)) << r.output;
  EXPECT_EQ(m[1].str() + "\n", first);
  EXPECT_EQ(m[2].str(), "Initial commit");
}

TEST_F(GitToolsTest, LogMaxCountAndPath) {
  ToolResult one = Run(MakeGitLogTool(), {{"max_count", 1}});
  EXPECT_THAT(one.output, HasSubstr("Extend the docs"));
  EXPECT_THAT(one.output, Not(HasSubstr("Initial commit")));
  EXPECT_THAT(one.output, HasSubstr("raise max_count"));
  ToolResult a_only = Run(MakeGitLogTool(), {{"path", "a.txt"}});
  EXPECT_THAT(a_only.output, HasSubstr("Initial commit"));
  EXPECT_THAT(a_only.output, Not(HasSubstr("Extend the docs")));
  EXPECT_EQ(a_only.details["commits"], 1);
}

TEST_F(GitToolsTest, OutsideARepositoryEveryGitToolSaysSo) {
  TempDir plain;
  ToolContext ctx = testing::ContextIn(plain);
  for (auto* make : {&MakeGitStatusTool, &MakeGitDiffTool, &MakeGitLogTool}) {
    ToolResult r = (*make)()->Run(Json::object(), ctx);
    EXPECT_FALSE(r.ok);
    EXPECT_THAT(r.output, HasSubstr("is not inside a git repository"));
  }
}

TEST_F(GitToolsTest, EmptyRepository) {
  TempDir fresh;
  ASSERT_EQ(testing::Git(fresh, "init -q"), 0);
  fresh.Write("x.txt", "x\n");
  ToolContext ctx = testing::ContextIn(fresh);
  EXPECT_EQ(MakeGitStatusTool()->Run(Json::object(), ctx).output,
            "## No commits yet on main\n?? x.txt\n");
  EXPECT_EQ(MakeGitLogTool()->Run(Json::object(), ctx).output, "no commits yet\n");
}

}  // namespace
}  // namespace dsagent
