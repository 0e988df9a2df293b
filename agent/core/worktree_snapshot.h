// WorktreeSnapshot: a git working tree's content at one moment (tracked files as they are on
// disk, plus untracked files that are not ignored), stored as a tree object in the repository's
// object database the way `git stash create` does — no ref, index or working-tree file changes —
// so that "everything that changed since" is a diff against it. The interactive assistant takes
// one when a session opens; /diff shows the session's changes, by the agent or anyone else.
#pragma once

#include <filesystem>
#include <set>
#include <string>

#include "common/expected.h"

namespace dsagent {

class WorktreeSnapshot {
 public:
  // Untracked files larger than this are left out of the snapshot (and out of later diffs)
  // rather than copied into the object database.
  static constexpr uintmax_t kMaxUntrackedFileBytes = 16u << 20;

  // Snapshots the repository containing `workspace`. Error: not inside a git repository (the
  // message says so), an index with conflicts, or a libgit2 failure.
  static Expected<WorktreeSnapshot, std::string> Take(const std::filesystem::path& workspace);

  // `git diff`-style patch text (a/ and b/ prefixes, new untracked files included) from the
  // snapshot to the working tree now; "" when nothing changed. Error: libgit2's message.
  Expected<std::string, std::string> DiffToWorktree() const;

  const std::string& tree_id() const { return tree_id_; }  // hex id of the snapshot tree

 private:
  std::filesystem::path workspace_;
  std::string tree_id_;
  std::set<std::string> left_out_;  // repository-relative paths of oversized untracked files
};

}  // namespace dsagent
