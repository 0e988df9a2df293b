#include "tools/write_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

class WriteFileTest : public ::testing::Test {
 protected:
  ToolResult Write(const std::string& path, const std::string& content) {
    return tool_->Run({{"path", path}, {"content", content}}, ctx_);
  }

  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
  std::unique_ptr<Tool> tool_ = MakeWriteFileTool();
};

TEST_F(WriteFileTest, CreatesFileAndParentDirectories) {
  ToolResult r = Write("a/b/c.txt", "one\ntwo\n");
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(ws_.Read("a/b/c.txt"), "one\ntwo\n");
  EXPECT_EQ(r.output, "Created a/b/c.txt (8 bytes, 2 lines)");
  EXPECT_EQ(r.details["created"], true);
  EXPECT_EQ(r.details["diff"], "--- /dev/null\n+++ b/a/b/c.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n");
}

TEST_F(WriteFileTest, OverwriteReportsDiffAgainstOldContent) {
  ws_.Write("f.txt", "keep\nold\n");
  ToolResult r = Write("f.txt", "keep\nnew\n");
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, "Overwrote f.txt (9 bytes, 2 lines)");
  EXPECT_EQ(r.details["created"], false);
  EXPECT_EQ(r.details["diff"], "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n keep\n-old\n+new\n");
  EXPECT_EQ(ws_.Read("f.txt"), "keep\nnew\n");
}

TEST_F(WriteFileTest, RefusesGitInternals) {
  ws_.Write(".git/config", "[core]\n");
  ToolResult r = Write(".git/config", "evil");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr(".git"));
  EXPECT_EQ(ws_.Read(".git/config"), "[core]\n");
}

TEST_F(WriteFileTest, RefusesNewFileUnderSymlinkedDirectoryPointingOutside) {
  TempDir outside;
  fs::create_directory_symlink(outside.path(), ws_.path() / "out");
  ToolResult r = Write("out/new.txt", "x");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("outside the workspace"));
  EXPECT_FALSE(outside.Exists("new.txt"));
}

TEST_F(WriteFileTest, RefusesEscapesAndDirectories) {
  EXPECT_FALSE(Write("../escape.txt", "x").ok);
  fs::create_directories(ws_.path() / "dir");
  ToolResult r = Write("dir", "x");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("is a directory"));
}

TEST_F(WriteFileTest, WritingThroughAnInsideSymlinkKeepsTheLink) {
  ws_.Write("real.txt", "old\n");
  fs::create_symlink(ws_.path() / "real.txt", ws_.path() / "alias.txt");
  ASSERT_TRUE(Write("alias.txt", "new\n").ok);
  EXPECT_TRUE(fs::is_symlink(ws_.path() / "alias.txt"));
  EXPECT_EQ(ws_.Read("real.txt"), "new\n");
}

}  // namespace
}  // namespace dsagent
