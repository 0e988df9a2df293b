// PatchWorktree: a throwaway git worktree (libgit2) at the caller's HEAD, so the agent can change
// files without touching the caller's working tree or index. It lives on a temporary branch
// `dsagent-patch/<id>`; Remove() prunes the worktree and deletes that branch. Not thread-safe.
#pragma once

#include <git2.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/expected.h"

namespace dsagent {

struct WorktreeDiff {
  std::string patch;               // unified diff against the base commit (new files included)
  std::vector<std::string> files;  // changed paths
  size_t insertions = 0, deletions = 0;
  bool empty() const { return files.empty(); }
};

class PatchWorktree {
 public:
  // Creates the worktree for the repository containing `repo_dir`, at its HEAD, under
  // `parent_dir`. Error: not a git repository, no commits yet, or libgit2's message.
  static Expected<std::unique_ptr<PatchWorktree>, std::string> Create(
      const std::filesystem::path& repo_dir, const std::filesystem::path& parent_dir,
      const std::string& id);
  ~PatchWorktree();  // Remove()s if not done

  const std::filesystem::path& path() const { return path_; }
  std::string base_commit() const;  // hex id of the HEAD it started from

  // Everything that differs from the base commit (respecting .gitignore).
  Expected<WorktreeDiff, std::string> Diff();
  // Commits all changes on the temporary branch; returns the commit id (hex).
  Expected<std::string, std::string> Commit(const std::string& message);
  // Creates branch `name` in the caller's repository at `commit_hex`. Error if it exists.
  Expected<Ok, std::string> PublishBranch(const std::string& name, const std::string& commit_hex);
  // Prunes the worktree (deleting its directory) and the temporary branch.
  void Remove();

 private:
  PatchWorktree() = default;
  git_repository* repo_ = nullptr;     // the caller's repository
  git_repository* wt_repo_ = nullptr;  // the worktree's view of it
  git_worktree* worktree_ = nullptr;
  git_oid base_{};
  std::string temp_branch_;
  std::filesystem::path path_;
};

}  // namespace dsagent
