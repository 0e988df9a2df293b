// Git plumbing for evals (libgit2): a per-run store of materialised task repositories, and a
// task workspace — a fresh clone checked out (detached) at the task's base commit — with the
// operations grading needs: diff against the base, apply a patch, reset files to the base.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/expected.h"
#include "evals/task.h"

struct git_repository;

namespace dsagent::evals {

// Turns each task's RepoSource into a git repository that workspaces can be cloned from, once per
// source per run: clones are used in place, bundles are unpacked with `git clone --mirror` (libgit2
// cannot read bundles), plain file trees are committed with a fixed signature and date (so the
// import commit id depends only on the files). Thread-safe.
class RepoStore {
 public:
  explicit RepoStore(std::filesystem::path cache_dir) : cache_dir_(std::move(cache_dir)) {}

  // The repository to clone from. Error: the bundle could not be unpacked, the files could not be
  // committed, or libgit2's message.
  Expected<std::filesystem::path, std::string> Materialize(const RepoSource& source);

 private:
  std::filesystem::path cache_dir_;
  std::mutex mu_;
  std::map<std::string, std::filesystem::path> done_;
};

// A clone at a base commit. Not thread-safe; distinct workspaces may be used concurrently.
class TaskWorkspace {
 public:
  // Clones `origin` into `dir` (which must not exist) and checks out `base_commit` detached
  // (empty: origin's HEAD). Error: the clone failed or the commit is not in the repository.
  static Expected<std::unique_ptr<TaskWorkspace>, std::string> Create(
      const std::filesystem::path& origin, const std::string& base_commit,
      const std::filesystem::path& dir);
  ~TaskWorkspace();
  TaskWorkspace(const TaskWorkspace&) = delete;
  TaskWorkspace& operator=(const TaskWorkspace&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::string& base_commit() const { return base_hex_; }

  // Unified diff (git format, binary files as git binary patches) of the working tree against the
  // base commit, untracked files included, ignored files excluded. Empty when nothing changed.
  Expected<std::string, std::string> DiffAgainstBase();

  // Applies a unified diff to the working tree with libgit2 (all-or-nothing). An empty patch is a
  // no-op. Error: libgit2's message (the tree is unchanged).
  Expected<Ok, std::string> ApplyPatch(const std::string& patch);

  // Adds gitignore `patterns` to this clone's .git/info/exclude, so DiffAgainstBase leaves those
  // files out (build outputs). Error: the file cannot be written.
  Expected<Ok, std::string> Ignore(const std::vector<std::string>& patterns);

  // Restores the whole working tree to the base commit, removing untracked files.
  Expected<Ok, std::string> ResetToBase();

  // Restores `paths` to their base-commit content; a path absent from the base is deleted.
  Expected<Ok, std::string> ResetPaths(const std::vector<std::string>& paths);

 private:
  TaskWorkspace() = default;
  git_repository* repo_ = nullptr;
  std::string base_hex_;
  std::filesystem::path path_;
};

// A git-style unified diff of one file going from `before` to `after` (nullopt: the file does not
// exist on that side, i.e. added or deleted). Empty when they are equal.
std::string FileChangePatch(const std::string& path, const std::optional<std::string>& before,
                            const std::optional<std::string>& after);

// The paths a patch touches (new-side names; old-side names for deletions). Error: the patch
// does not parse.
Expected<std::vector<std::string>, std::string> PatchedPaths(const std::string& patch);

}  // namespace dsagent::evals
