// PatchWorktree against real temporary git repositories (created with the git CLI, inspected with
// it too, so the assertions do not rely on libgit2 agreeing with itself).
#include "agent/patch/patch_worktree.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/command_output.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using testing::CommandOutput;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PatchWorktreeTest : public TempDirTest {
 protected:
  void SetUp() override {
    repo_ = dir_ / "repo";
    Write("repo/a.txt", "one\ntwo\n");
    Write("repo/b.txt", "gone soon\n");
    Write("repo/.gitignore", "build/\n");
    Git("init -q -b main . && git add -A && git -c user.name=T -c user.email=t@example.com "
        "commit -q -m base");
    base_ = Git("rev-parse HEAD");
    base_.pop_back();
    // The caller's own uncommitted work: an edit, a staged new file, an untracked file.
    Write("repo/a.txt", "the caller's edit\n");
    Write("repo/staged.txt", "staged\n");
    Git("add staged.txt");
    Write("repo/untracked.txt", "mine\n");
  }
  std::string Git(const std::string& args) const {
    return CommandOutput("cd '" + repo_.string() + "' && git " + args + " 2>&1");
  }
  // Every file of the caller's working tree plus its index and HEAD, byte for byte.
  std::map<std::string, std::string> Snapshot() const {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(repo_);
         it != fs::recursive_directory_iterator(); ++it) {
      if (it->path().filename() == ".git") {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) out[fs::relative(it->path(), repo_)] = ReadAll(it->path());
    }
    out[".git/index"] = ReadAll(repo_ / ".git/index");
    out[".git/HEAD"] = ReadAll(repo_ / ".git/HEAD");
    return out;
  }
  std::unique_ptr<PatchWorktree> Create(const std::string& id = "t1") {
    auto wt = PatchWorktree::Create(repo_, dir_ / "worktrees", id);
    EXPECT_TRUE(wt) << wt.error();
    return wt ? std::move(*wt) : nullptr;
  }

  fs::path repo_;
  std::string base_;
};

TEST_F(PatchWorktreeTest, StartsAtHeadNotAtTheCallersWorkingTree) {
  auto wt = Create();
  ASSERT_TRUE(wt);
  EXPECT_EQ(wt->base_commit(), base_);
  EXPECT_EQ(ReadAll(wt->path() / "a.txt"), "one\ntwo\n");
  EXPECT_FALSE(fs::exists(wt->path() / "staged.txt"));
  EXPECT_FALSE(fs::exists(wt->path() / "untracked.txt"));
  EXPECT_EQ(fs::canonical(wt->git_common_dir()), fs::canonical(repo_ / ".git"));
}

TEST_F(PatchWorktreeTest, DiffHasEditsDeletionsAndNewFilesButNotIgnoredOnes) {
  const auto before = Snapshot();
  auto wt = Create();
  ASSERT_TRUE(wt);
  std::ofstream(wt->path() / "a.txt") << "one\n2\nthree\n";
  fs::remove(wt->path() / "b.txt");
  fs::create_directories(wt->path() / "new");
  std::ofstream(wt->path() / "new/c.txt") << "c\n";
  fs::create_directories(wt->path() / "build");
  std::ofstream(wt->path() / "build/out.o") << "ignored\n";

  auto diff = wt->Diff();
  ASSERT_TRUE(diff) << diff.error();
  ASSERT_EQ(diff->files.size(), 3u);
  EXPECT_EQ(diff->paths(), (std::vector<std::string>{"a.txt", "b.txt", "new/c.txt"}));
  EXPECT_EQ(diff->files[0].status, 'M');
  EXPECT_EQ(diff->files[0].insertions, 2u);
  EXPECT_EQ(diff->files[0].deletions, 1u);
  EXPECT_EQ(diff->files[1].status, 'D');
  EXPECT_EQ(diff->files[1].deletions, 1u);
  EXPECT_EQ(diff->files[2].status, 'A');
  EXPECT_EQ(diff->files[2].insertions, 1u);
  EXPECT_EQ(diff->insertions, 3u);
  EXPECT_EQ(diff->deletions, 2u);
  EXPECT_THAT(diff->patch, Not(HasSubstr("build/out.o")));

  // The patch is what `git apply` expects, relative to the base commit.
  const fs::path patch = Write("out.patch", diff->patch);
  CommandOutput("git clone -q '" + repo_.string() + "' '" + (dir_ / "clone").string() + "'");
  EXPECT_EQ(CommandOutput("cd '" + (dir_ / "clone").string() + "' && git apply '" + patch.string() +
                          "' && cat a.txt new/c.txt && test ! -e b.txt && echo ok"),
            "one\n2\nthree\nc\nok\n");
  EXPECT_EQ(Snapshot(), before);
  wt->Remove();
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(PatchWorktreeTest, UnchangedWorktreeHasAnEmptyDiff) {
  auto wt = Create();
  ASSERT_TRUE(wt);
  fs::create_directories(wt->path() / "build");
  std::ofstream(wt->path() / "build/out.o") << "a test run's output, ignored\n";
  auto diff = wt->Diff();
  ASSERT_TRUE(diff) << diff.error();
  EXPECT_TRUE(diff->empty());
  EXPECT_THAT(diff->patch, IsEmpty());
}

TEST_F(PatchWorktreeTest, CommitOnABranchOfTheCallersRepositoryThenRemove) {
  const auto before = Snapshot();
  auto wt = Create();
  ASSERT_TRUE(wt);
  const fs::path path = wt->path();
  std::ofstream(path / "a.txt") << "fixed\n";
  auto commit = wt->Commit("Fix a\n\nFixes #3\n");
  ASSERT_TRUE(commit) << commit.error();
  ASSERT_TRUE(wt->PublishBranch("fix-a", *commit));
  EXPECT_FALSE(wt->PublishBranch("fix-a", *commit));  // never moves an existing branch

  EXPECT_EQ(Git("rev-parse fix-a"), *commit + "\n");
  EXPECT_EQ(Git("rev-parse fix-a~1"), base_ + "\n");
  EXPECT_EQ(Git("show fix-a:a.txt"), "fixed\n");
  EXPECT_EQ(Git("log -1 --format=%B fix-a"), "Fix a\n\nFixes #3\n\n");
  EXPECT_EQ(Git("symbolic-ref HEAD"), "refs/heads/main\n");
  EXPECT_EQ(Snapshot(), before);

  wt->Remove();
  EXPECT_FALSE(fs::exists(path));
  EXPECT_THAT(Git("branch --list 'dsagent-patch/*'"), IsEmpty());
  EXPECT_THAT(Git("worktree list"), Not(HasSubstr(path.filename().string())));
  EXPECT_EQ(Git("rev-parse fix-a"), *commit + "\n");  // the published branch stays
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(PatchWorktreeTest, DestructorRemovesUnlessKept) {
  fs::path removed, kept;
  {
    auto wt = Create("gone");
    ASSERT_TRUE(wt);
    removed = wt->path();
  }
  EXPECT_FALSE(fs::exists(removed));
  {
    auto wt = Create("kept");
    ASSERT_TRUE(wt);
    kept = wt->path();
    wt->Keep();
  }
  EXPECT_TRUE(fs::exists(kept / "a.txt"));
  EXPECT_THAT(Git("worktree list"), HasSubstr(kept.string()));
  EXPECT_THAT(Git("worktree list"), Not(HasSubstr(removed.string())));
  EXPECT_THAT(Git("branch --list 'dsagent-patch/*'"), HasSubstr("dsagent-patch/kept"));
}

TEST_F(PatchWorktreeTest, ErrorsForNoRepositoryAndUnbornHead) {
  const fs::path plain = dir_ / "plain";
  fs::create_directories(plain);
  auto none = PatchWorktree::Create(plain, dir_ / "wts", "x");
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error(), HasSubstr("not inside a git repository"));

  CommandOutput("cd '" + plain.string() + "' && git init -q .");
  auto unborn = PatchWorktree::Create(plain, dir_ / "wts", "x");
  ASSERT_FALSE(unborn);
  EXPECT_THAT(unborn.error(), HasSubstr("no commits yet"));
}

}  // namespace
}  // namespace dsagent
