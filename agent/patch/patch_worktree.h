// PatchWorktree: a throwaway git worktree (libgit2) at the caller's HEAD, so the agent can change
// files without touching the caller's working tree or index. It lives on a temporary branch
// `dsagent-patch/<id>`; Remove() prunes the worktree and deletes that branch. Only the caller's
// `.git` directory is written (the worktree's administrative files, refs and objects) — never its
// working tree, index or HEAD. Not thread-safe.
#pragma once

#include <git2.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/expected.h"

namespace dsagent {

// One changed file of a WorktreeDiff (a diffstat row).
struct FileChange {
  std::string path;   // the new path (the old one for deletions), relative to the repository root
  char status = 'M';  // 'A' added, 'D' deleted, 'M' modified, 'R' renamed, 'T' type change
  size_t insertions = 0, deletions = 0;  // lines; both 0 for binary files
  bool binary = false;
};

struct WorktreeDiff {
  std::string patch;  // unified diff against the base commit (new files included)
  std::vector<FileChange> files;
  size_t insertions = 0, deletions = 0;  // totals over files
  bool empty() const { return files.empty(); }
  std::vector<std::string> paths() const;  // files[i].path, in diff order
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
  // The caller's git common directory (objects, refs): a sandbox must let commands write there
  // for `git commit` inside the worktree to work.
  std::filesystem::path git_common_dir() const;

  // Everything that differs from the base commit: modified, deleted and untracked files
  // (.gitignore'd ones excluded). Stages it in the worktree's own index, nowhere else.
  Expected<WorktreeDiff, std::string> Diff();
  // Commits all changes on the temporary branch; returns the commit id (hex).
  Expected<std::string, std::string> Commit(const std::string& message);
  // Creates branch `name` in the caller's repository at `commit_hex`. Error if it exists.
  Expected<Ok, std::string> PublishBranch(const std::string& name, const std::string& commit_hex);
  // Prunes the worktree (deleting its directory) and the temporary branch. Idempotent.
  void Remove();
  // Leaves the worktree and its temporary branch in place (for inspection); the destructor then
  // only releases handles. `git worktree remove PATH` cleans up later.
  void Keep();

 private:
  PatchWorktree() = default;
  git_repository* repo_ = nullptr;     // the caller's repository
  git_repository* wt_repo_ = nullptr;  // the worktree's view of it
  git_worktree* worktree_ = nullptr;
  git_oid base_{};
  bool keep_ = false;
  std::string temp_branch_;
  std::filesystem::path path_;
};

}  // namespace dsagent
