#include "tools/list_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ListFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_.Write(".gitignore", "build/\n*.log\n");
    ws_.Write("README.md", "");
    ws_.Write("src/a.cc", "");
    ws_.Write("src/b.h", "");
    ws_.Write("src/deep/x/y.txt", "");
    ws_.Write("src-old/z.cc", "");
    ws_.Write("build/out.o", "");
    ws_.Write("debug.log", "");
  }
  ToolResult List(Json args) { return tool_->Run(args, ctx_); }

  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
  std::unique_ptr<Tool> tool_ = MakeListFilesTool();
};

TEST_F(ListFilesTest, RespectsGitignoreInsideARepositoryAndSkipsDotGit) {
  ASSERT_EQ(testing::Git(ws_, "init -q"), 0);
  ToolResult r = List(Json::object());
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output,
            ".gitignore\nREADME.md\nsrc/\nsrc/a.cc\nsrc/b.h\nsrc/deep/\nsrc/deep/x/\n"
            "src-old/\nsrc-old/z.cc\n");
}

TEST_F(ListFilesTest, OutsideARepositoryNothingIsIgnoredButDotGitIsStillSkipped) {
  fs::create_directories(ws_.path() / ".git");  // not a valid repository: just a directory
  ToolResult r = List({{"max_depth", 1}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, ".gitignore\nREADME.md\nbuild/\ndebug.log\nsrc/\nsrc-old/\n");
}

TEST_F(ListFilesTest, SubdirectoryAndDepth) {
  ToolResult r = List({{"path", "src"}, {"max_depth", 1}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, "src/a.cc\nsrc/b.h\nsrc/deep/\n");
  EXPECT_EQ(List({{"path", "src"}, {"max_depth", 5}}).output,
            "src/a.cc\nsrc/b.h\nsrc/deep/\nsrc/deep/x/\nsrc/deep/x/y.txt\n");
}

TEST_F(ListFilesTest, CapKeepsTheTopLevelsAndSaysSo) {
  ASSERT_EQ(testing::Git(ws_, "init -q"), 0);
  ctx_.list_max_entries = 5;
  ToolResult r = List(Json::object());
  ASSERT_TRUE(r.ok) << r.output;
  // All four top-level entries, then the first entry of the next level.
  EXPECT_EQ(r.output,
            ".gitignore\nREADME.md\nsrc/\nsrc/a.cc\nsrc-old/\n[listing capped at 5 entries; "
            "list a subdirectory or use a smaller max_depth to see the rest]\n");
  EXPECT_EQ(r.details["truncated"], true);
}

TEST_F(ListFilesTest, BadPaths) {
  ToolResult file = List({{"path", "README.md"}});
  EXPECT_FALSE(file.ok);
  EXPECT_THAT(file.output, HasSubstr("is a file, not a directory"));
  ToolResult missing = List({{"path", "scr"}});
  EXPECT_FALSE(missing.ok);
  EXPECT_THAT(missing.output, HasSubstr("directory 'scr' does not exist"));
  EXPECT_THAT(missing.output, HasSubstr("src/"));
  EXPECT_FALSE(List({{"path", ".."}}).ok);
}

TEST_F(ListFilesTest, SymlinkedDirectoriesAreListedNotFollowed) {
  TempDir outside;
  outside.Write("secret.txt", "");
  fs::create_directory_symlink(outside.path(), ws_.path() / "src/link");
  ToolResult r = List({{"path", "src"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("src/link\n"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("secret")));
}

TEST_F(ListFilesTest, EmptyDirectory) {
  fs::create_directories(ws_.path() / "empty");
  EXPECT_EQ(List({{"path", "empty"}}).output, "(empty directory)\n");
}

}  // namespace
}  // namespace dsagent
