#include "agent/core/worktree_snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/file_io.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

class WorktreeSnapshotTest : public TempDirTest {
 protected:
  void Git(const std::string& args) {
    const std::string cmd = "cd '" + dir_.string() + "' && git -c user.name=t -c user.email=t@t " +
                            args + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  std::string Index() { return ReadFileToString(dir_ / ".git" / "index").value(); }
};

TEST_F(WorktreeSnapshotTest, DiffShowsOnlyChangesMadeAfterTheSnapshot) {
  Write("kept.txt", "one\n");
  Write("dirty.txt", "committed\n");
  Git("init -q");
  Git("add -A");
  Git("commit -qm init");
  // Already dirty and untracked before the session: not the session's changes.
  Write("dirty.txt", "dirty before the session\n");
  Write("untracked.txt", "untracked before\n");
  const std::string index_before = Index();

  auto snap = WorktreeSnapshot::Take(dir_);
  ASSERT_TRUE(snap) << snap.error();
  EXPECT_EQ(Index(), index_before);  // the index is not touched
  auto none = snap->DiffToWorktree();
  ASSERT_TRUE(none) << none.error();
  EXPECT_EQ(*none, "");

  Write("kept.txt", "one\ntwo\n");
  Write("new.txt", "brand new\n");
  std::filesystem::remove(dir_ / "untracked.txt");
  auto diff = snap->DiffToWorktree();
  ASSERT_TRUE(diff) << diff.error();
  EXPECT_THAT(*diff, HasSubstr("+++ b/kept.txt"));
  EXPECT_THAT(*diff, HasSubstr("+two"));
  EXPECT_THAT(*diff, HasSubstr("+brand new"));
  EXPECT_THAT(*diff, HasSubstr("-untracked before"));
  EXPECT_THAT(*diff, Not(HasSubstr("dirty")));
}

TEST_F(WorktreeSnapshotTest, OutsideAGitRepositoryIsAnError) {
  auto snap = WorktreeSnapshot::Take(dir_);
  ASSERT_FALSE(snap);
  EXPECT_THAT(snap.error(), HasSubstr("git"));
}

}  // namespace
}  // namespace dsagent
