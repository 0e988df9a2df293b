#include "tools/workspace_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

class WorkspacePathTest : public ::testing::Test {
 protected:
  TempDir ws_;
  TempDir outside_;  // a second temp dir: a place outside the workspace
};

TEST_F(WorkspacePathTest, RelativePathResolvesInside) {
  ws_.Write("src/a.cc", "x");
  auto r = ResolveWorkspacePath(ws_.path(), "src/a.cc", PathAccess::kRead);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.path() / "src/a.cc");
  EXPECT_EQ(r->relative, "src/a.cc");
}

TEST_F(WorkspacePathTest, NonExistentPathInsideIsAllowed) {
  auto r = ResolveWorkspacePath(ws_.path(), "new/dir/file.txt", PathAccess::kWrite);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.path() / "new/dir/file.txt");
}

// Listings spell a byte that is not UTF-8 as `\xNN` (tools/shown_name.h); that spelling finds the
// file, but a name spelled that way literally wins, and nothing existing means the text as given.
TEST_F(WorkspacePathTest, ByteEscapesOfShownNamesFindTheFileUnlessTheLiteralNameExists) {
  ws_.Write(std::string("dir\xff/bad\xfe.py"), "x");
  auto r = ResolveWorkspacePath(ws_.path(), "dir\\xff/bad\\xfe.py", PathAccess::kWrite);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.path() / std::string("dir\xff/bad\xfe.py"));
  ws_.Write("lit\\xff.py", "literal");
  ws_.Write(std::string("lit\xff.py"), "byte");
  r = ResolveWorkspacePath(ws_.path(), "lit\\xff.py", PathAccess::kRead);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.path() / "lit\\xff.py");
  r = ResolveWorkspacePath(ws_.path(), "new\\xff.py", PathAccess::kWrite);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.path() / "new\\xff.py");
}

TEST_F(WorkspacePathTest, DotDotEscapeIsRefusedWithClearMessage) {
  auto r = ResolveWorkspacePath(ws_.path(), "../x", PathAccess::kRead);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "path '../x' is outside the workspace " + ws_.path().string());
  EXPECT_FALSE(ResolveWorkspacePath(ws_.path(), "src/../../x", PathAccess::kWrite));
}

TEST_F(WorkspacePathTest, DotDotThatStaysInsideIsFine) {
  auto r = ResolveWorkspacePath(ws_.path(), "src/../b.txt", PathAccess::kRead);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->relative, "b.txt");
}

TEST_F(WorkspacePathTest, AbsolutePathsOnlyInside) {
  auto inside =
      ResolveWorkspacePath(ws_.path(), (ws_.path() / "a.txt").string(), PathAccess::kRead);
  ASSERT_TRUE(inside) << inside.error();
  EXPECT_EQ(inside->relative, "a.txt");
  auto outside = ResolveWorkspacePath(ws_.path(), "/etc/passwd", PathAccess::kRead);
  ASSERT_FALSE(outside);
  EXPECT_THAT(outside.error(), HasSubstr("outside the workspace"));
  // A sibling whose name starts with the workspace's name is not inside it.
  auto sibling = ResolveWorkspacePath(ws_.path(), ws_.path().string() + "x/f", PathAccess::kRead);
  EXPECT_FALSE(sibling);
}

TEST_F(WorkspacePathTest, SymlinkedDirectoryPointingOutsideIsRefused) {
  outside_.Write("secret.txt", "s");
  fs::create_directory_symlink(outside_.path(), ws_.path() / "link");
  auto read = ResolveWorkspacePath(ws_.path(), "link/secret.txt", PathAccess::kRead);
  ASSERT_FALSE(read);
  EXPECT_THAT(read.error(), HasSubstr("symbolic link"));
  EXPECT_THAT(read.error(), HasSubstr("outside the workspace"));
  // Creating a new file below the symlinked parent is refused too.
  EXPECT_FALSE(ResolveWorkspacePath(ws_.path(), "link/new/file.txt", PathAccess::kWrite));
}

TEST_F(WorkspacePathTest, SymlinkThenDotDotFollowsTheLinkLikeTheKernel) {
  // ws/deep -> outside/a/b; "deep/../../x" is outside/x for the kernel, though lexically inside.
  fs::create_directories(outside_.path() / "a/b");
  fs::create_directory_symlink(outside_.path() / "a/b", ws_.path() / "deep");
  EXPECT_FALSE(ResolveWorkspacePath(ws_.path(), "deep/../../x", PathAccess::kRead));
}

TEST_F(WorkspacePathTest, DanglingSymlinkPointingOutsideIsRefused) {
  fs::create_symlink(outside_.path() / "not-yet", ws_.path() / "dangling");
  EXPECT_FALSE(ResolveWorkspacePath(ws_.path(), "dangling", PathAccess::kWrite));
}

TEST_F(WorkspacePathTest, SymlinkInsideResolvesToItsTarget) {
  ws_.Write("real/file.txt", "x");
  fs::create_directory_symlink(ws_.path() / "real", ws_.path() / "alias");
  auto r = ResolveWorkspacePath(ws_.path(), "alias/file.txt", PathAccess::kWrite);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.path() / "real/file.txt");
}

TEST_F(WorkspacePathTest, SymlinkLoopIsAnError) {
  fs::create_symlink(ws_.path() / "b", ws_.path() / "a");
  fs::create_symlink(ws_.path() / "a", ws_.path() / "b");
  auto r = ResolveWorkspacePath(ws_.path(), "a/x", PathAccess::kRead);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("too many levels of symbolic links"));
}

TEST_F(WorkspacePathTest, WritesIntoGitInternalsAreRefusedReadsAreNot) {
  ws_.Write(".git/config", "[core]\n");
  auto write = ResolveWorkspacePath(ws_.path(), ".git/config", PathAccess::kWrite);
  ASSERT_FALSE(write);
  EXPECT_THAT(write.error(), HasSubstr(".git"));
  EXPECT_FALSE(ResolveWorkspacePath(ws_.path(), "sub/.git/hooks/pre-commit", PathAccess::kWrite));
  EXPECT_FALSE(ResolveWorkspacePath(ws_.path(), "./.GIT/HEAD", PathAccess::kWrite));
  EXPECT_TRUE(ResolveWorkspacePath(ws_.path(), ".git/config", PathAccess::kRead));
  EXPECT_TRUE(ResolveWorkspacePath(ws_.path(), ".gitignore", PathAccess::kWrite));
}

TEST_F(WorkspacePathTest, EmptyPathIsRefused) {
  EXPECT_FALSE(ResolveWorkspacePath(ws_.path(), "", PathAccess::kRead));
}

TEST_F(WorkspacePathTest, WorkspaceItselfIsDot) {
  auto r = ResolveWorkspacePath(ws_.path(), ".", PathAccess::kRead);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->relative, ".");
}

TEST_F(WorkspacePathTest, WorkspaceGivenThroughASymlinkStillWorks) {
  fs::create_directory_symlink(ws_.path(), outside_.path() / "ws-alias");
  const fs::path alias = outside_.path() / "ws-alias";
  auto r = ResolveWorkspacePath(alias, (alias / "f.txt").string(), PathAccess::kWrite);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.path() / "f.txt");
}

}  // namespace
}  // namespace dsagent
