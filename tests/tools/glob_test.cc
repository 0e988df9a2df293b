#include "tools/glob.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

class GlobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_.Write(".gitignore", "build/\n");
    ws_.Write("main.cc", "");
    ws_.Write("src/a.cc", "");
    ws_.Write("src/b.cc", "");
    ws_.Write("src/c.h", "");
    ws_.Write("src/util/d.cc", "");
    ws_.Write("build/gen.cc", "");
    ASSERT_EQ(testing::Git(ws_, "init -q"), 0);
  }
  ToolResult Glob(Json args) { return tool_->Run(args, ctx_); }

  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
  std::unique_ptr<Tool> tool_ = MakeGlobTool();
};

TEST_F(GlobTest, DoubleStarMatchesAnyDepthAndRespectsGitignore) {
  ToolResult r = Glob({{"pattern", "**/*.cc"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, "main.cc\nsrc/a.cc\nsrc/b.cc\nsrc/util/d.cc\n");
}

TEST_F(GlobTest, SingleStarStaysInOneDirectory) {
  EXPECT_EQ(Glob({{"pattern", "src/*.cc"}}).output, "src/a.cc\nsrc/b.cc\n");
  EXPECT_EQ(Glob({{"pattern", "*.cc"}}).output, "main.cc\n");
}

TEST_F(GlobTest, QuestionMarkAndClasses) {
  EXPECT_EQ(Glob({{"pattern", "src/?.cc"}}).output, "src/a.cc\nsrc/b.cc\n");
  EXPECT_EQ(Glob({{"pattern", "src/[ac].*"}}).output, "src/a.cc\nsrc/c.h\n");
  EXPECT_EQ(Glob({{"pattern", "src/[!a].cc"}}).output, "src/b.cc\n");
}

TEST_F(GlobTest, PathSetsTheBaseButResultsStayWorkspaceRelative) {
  EXPECT_EQ(Glob({{"pattern", "*.cc"}, {"path", "src"}}).output, "src/a.cc\nsrc/b.cc\n");
}

TEST_F(GlobTest, NoMatchIsNotAnError) {
  ToolResult r = Glob({{"pattern", "**/*.rs"}});
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("no files match"));
}

TEST_F(GlobTest, CapAddsANote) {
  ctx_.list_max_entries = 2;
  ToolResult r = Glob({{"pattern", "**/*.cc"}});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.output,
            "main.cc\nsrc/a.cc\n[stopped at 2 matches; use a narrower pattern or path]\n");
}

TEST_F(GlobTest, EscapingPatternsAreRefused) {
  EXPECT_FALSE(Glob({{"pattern", "../*"}}).ok);
  EXPECT_FALSE(Glob({{"pattern", "/etc/*"}}).ok);
  EXPECT_FALSE(Glob({{"pattern", "*"}, {"path", "../"}}).ok);
}

}  // namespace
}  // namespace dsagent
