// Walking the workspace the way a developer sees it, shared by list_files, glob and grep so that
// they agree on what exists: `.git/` is always skipped, paths ignored by .gitignore are skipped
// when the workspace is inside a git repository (libgit2's rules: nested .gitignore files,
// .git/info/exclude, core.excludesFile), and symbolic links are reported but never followed into
// directories (no loops, no escapes from the workspace).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/expected.h"
#include "tools/git_support.h"
#include "tools/workspace_path.h"

namespace dsagent {

struct WalkEntry {
  std::filesystem::path absolute;
  std::string relative;       // to the workspace root, '/'-separated, no trailing '/'
  bool is_directory = false;  // a real directory (not a symbolic link to one)
  int depth = 0;              // 1 for a direct child of the walk's root
};

enum class WalkAction { kContinue, kSkipChildren, kStop };

// Not thread-safe (one walker per tool call).
class WorkspaceWalker {
 public:
  // Opens the git repository enclosing `workspace`, if any, for its ignore rules.
  explicit WorkspaceWalker(const std::filesystem::path& workspace);

  // The children of directory `dir` (absolute, inside the workspace), sorted by name, without
  // `.git` and ignored paths. Unreadable directories yield no children.
  std::vector<WalkEntry> Children(const std::filesystem::path& dir, int depth);

  // Depth-first walk below `root` in sorted order (a directory's entry comes right before its
  // children), visiting directories and files up to `max_depth` levels (<= 0: unlimited).
  // `visit` returns kSkipChildren to prune a directory, kStop to end the walk.
  void Walk(const std::filesystem::path& root, int max_depth,
            const std::function<WalkAction(const WalkEntry&)>& visit);

  // True when .gitignore rules exclude `absolute` (false outside a git repository).
  bool IsIgnored(const std::filesystem::path& absolute);

 private:
  WalkAction WalkBelow(const std::filesystem::path& dir, int depth, int max_depth,
                       const std::function<WalkAction(const WalkEntry&)>& visit);

  std::filesystem::path workspace_;
  GitRepository repo_;
  std::filesystem::path workdir_;  // canonical working directory of repo_
};

// Resolves `path` (the model's string) to an existing directory to walk. Error: a message for the
// model (outside the workspace, missing with suggestions, or a file rather than a directory).
Expected<WorkspacePath, std::string> ResolveWalkRoot(const std::filesystem::path& workspace,
                                                     const std::string& path);

// Sorts '/'-separated relative paths component-wise, so that a directory's entries follow it
// directly ("a/", "a/b", "a-c"): the order every listing tool uses.
void SortTreeOrder(std::vector<std::string>& relative_paths);

}  // namespace dsagent
