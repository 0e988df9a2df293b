#include "tools/workspace_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempWorkspace;

class WorkspacePathTest : public ::testing::Test {
 protected:
  TempWorkspace ws_;
  TempWorkspace outside_;  // a second temp dir: a place outside the workspace
};

TEST_F(WorkspacePathTest, RelativePathResolvesInside) {
  ws_.Write("src/a.cc", "x");
  auto r = ResolveWorkspacePath(ws_.root(), "src/a.cc", PathAccess::kRead);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.root() / "src/a.cc");
  EXPECT_EQ(r->relative, "src/a.cc");
}

TEST_F(WorkspacePathTest, NonExistentPathInsideIsAllowed) {
  auto r = ResolveWorkspacePath(ws_.root(), "new/dir/file.txt", PathAccess::kWrite);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.root() / "new/dir/file.txt");
}

TEST_F(WorkspacePathTest, DotDotEscapeIsRefusedWithClearMessage) {
  auto r = ResolveWorkspacePath(ws_.root(), "../x", PathAccess::kRead);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "path '../x' is outside the workspace " + ws_.root().string());
  EXPECT_FALSE(ResolveWorkspacePath(ws_.root(), "src/../../x", PathAccess::kWrite));
}

TEST_F(WorkspacePathTest, DotDotThatStaysInsideIsFine) {
  auto r = ResolveWorkspacePath(ws_.root(), "src/../b.txt", PathAccess::kRead);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->relative, "b.txt");
}

TEST_F(WorkspacePathTest, AbsolutePathsOnlyInside) {
  auto inside =
      ResolveWorkspacePath(ws_.root(), (ws_.root() / "a.txt").string(), PathAccess::kRead);
  ASSERT_TRUE(inside) << inside.error();
  EXPECT_EQ(inside->relative, "a.txt");
  auto outside = ResolveWorkspacePath(ws_.root(), "/etc/passwd", PathAccess::kRead);
  ASSERT_FALSE(outside);
  EXPECT_THAT(outside.error(), HasSubstr("outside the workspace"));
  // A sibling whose name starts with the workspace's name is not inside it.
  auto sibling = ResolveWorkspacePath(ws_.root(), ws_.root().string() + "x/f", PathAccess::kRead);
  EXPECT_FALSE(sibling);
}

TEST_F(WorkspacePathTest, SymlinkedDirectoryPointingOutsideIsRefused) {
  outside_.Write("secret.txt", "s");
  fs::create_directory_symlink(outside_.root(), ws_.root() / "link");
  auto read = ResolveWorkspacePath(ws_.root(), "link/secret.txt", PathAccess::kRead);
  ASSERT_FALSE(read);
  EXPECT_THAT(read.error(), HasSubstr("symbolic link"));
  EXPECT_THAT(read.error(), HasSubstr("outside the workspace"));
  // Creating a new file below the symlinked parent is refused too.
  EXPECT_FALSE(ResolveWorkspacePath(ws_.root(), "link/new/file.txt", PathAccess::kWrite));
}

TEST_F(WorkspacePathTest, SymlinkThenDotDotFollowsTheLinkLikeTheKernel) {
  // ws/deep -> outside/a/b; "deep/../../x" is outside/x for the kernel, though lexically inside.
  fs::create_directories(outside_.root() / "a/b");
  fs::create_directory_symlink(outside_.root() / "a/b", ws_.root() / "deep");
  EXPECT_FALSE(ResolveWorkspacePath(ws_.root(), "deep/../../x", PathAccess::kRead));
}

TEST_F(WorkspacePathTest, DanglingSymlinkPointingOutsideIsRefused) {
  fs::create_symlink(outside_.root() / "not-yet", ws_.root() / "dangling");
  EXPECT_FALSE(ResolveWorkspacePath(ws_.root(), "dangling", PathAccess::kWrite));
}

TEST_F(WorkspacePathTest, SymlinkInsideResolvesToItsTarget) {
  ws_.Write("real/file.txt", "x");
  fs::create_directory_symlink(ws_.root() / "real", ws_.root() / "alias");
  auto r = ResolveWorkspacePath(ws_.root(), "alias/file.txt", PathAccess::kWrite);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.root() / "real/file.txt");
}

TEST_F(WorkspacePathTest, SymlinkLoopIsAnError) {
  fs::create_symlink(ws_.root() / "b", ws_.root() / "a");
  fs::create_symlink(ws_.root() / "a", ws_.root() / "b");
  auto r = ResolveWorkspacePath(ws_.root(), "a/x", PathAccess::kRead);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("too many levels of symbolic links"));
}

TEST_F(WorkspacePathTest, WritesIntoGitInternalsAreRefusedReadsAreNot) {
  ws_.Write(".git/config", "[core]\n");
  auto write = ResolveWorkspacePath(ws_.root(), ".git/config", PathAccess::kWrite);
  ASSERT_FALSE(write);
  EXPECT_THAT(write.error(), HasSubstr(".git"));
  EXPECT_FALSE(ResolveWorkspacePath(ws_.root(), "sub/.git/hooks/pre-commit", PathAccess::kWrite));
  EXPECT_FALSE(ResolveWorkspacePath(ws_.root(), "./.GIT/HEAD", PathAccess::kWrite));
  EXPECT_TRUE(ResolveWorkspacePath(ws_.root(), ".git/config", PathAccess::kRead));
  EXPECT_TRUE(ResolveWorkspacePath(ws_.root(), ".gitignore", PathAccess::kWrite));
}

TEST_F(WorkspacePathTest, EmptyPathIsRefused) {
  EXPECT_FALSE(ResolveWorkspacePath(ws_.root(), "", PathAccess::kRead));
}

TEST_F(WorkspacePathTest, WorkspaceItselfIsDot) {
  auto r = ResolveWorkspacePath(ws_.root(), ".", PathAccess::kRead);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->relative, ".");
}

TEST_F(WorkspacePathTest, WorkspaceGivenThroughASymlinkStillWorks) {
  fs::create_directory_symlink(ws_.root(), outside_.root() / "ws-alias");
  const fs::path alias = outside_.root() / "ws-alias";
  auto r = ResolveWorkspacePath(alias, (alias / "f.txt").string(), PathAccess::kWrite);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->absolute, ws_.root() / "f.txt");
}

}  // namespace
}  // namespace dsagent
