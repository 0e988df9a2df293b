// libgit2 plumbing shared by the git tools and the .gitignore-aware file walker: one-time library
// initialisation, owning handles, and error text.
#pragma once

#include <git2.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/expected.h"

namespace dsagent {

// Calls git_libgit2_init() exactly once per process (thread-safe). The library is never shut
// down: tools may run until exit, and a late shutdown would race with them.
void EnsureLibgit2Initialized();

template <class T, void (*Free)(T*)>
struct GitFree {
  void operator()(T* p) const { Free(p); }
};
using GitRepository = std::unique_ptr<git_repository, GitFree<git_repository, git_repository_free>>;
using GitStatusList =
    std::unique_ptr<git_status_list, GitFree<git_status_list, git_status_list_free>>;
using GitDiff = std::unique_ptr<git_diff, GitFree<git_diff, git_diff_free>>;
using GitIndex = std::unique_ptr<git_index, GitFree<git_index, git_index_free>>;
using GitTree = std::unique_ptr<git_tree, GitFree<git_tree, git_tree_free>>;
using GitCommit = std::unique_ptr<git_commit, GitFree<git_commit, git_commit_free>>;
using GitReference = std::unique_ptr<git_reference, GitFree<git_reference, git_reference_free>>;
using GitRevwalk = std::unique_ptr<git_revwalk, GitFree<git_revwalk, git_revwalk_free>>;

// The message of the last libgit2 error on this thread, or "unknown libgit2 error".
std::string LastGitError();

// Opens the non-bare repository containing `dir` (searching parent directories). Hooks and
// fsmonitor never run (libgit2 runs no external commands). Error: "<dir> is not inside a git
// repository", a working tree moved by core.worktree to where its .git is not or that does not
// contain `dir` (its files would be outside the workspace), or libgit2's own message.
Expected<GitRepository, std::string> OpenRepository(const std::filesystem::path& dir);

// The repository's working directory, canonical (symlinks resolved) so it compares with paths
// from ResolveWorkspacePath.
std::filesystem::path RepositoryWorkdir(git_repository* repo);

// A path the model gave (resolved inside `workspace` by ResolveWorkspacePath) as a pathspec
// relative to the repository's working directory; "" for the working directory itself.
// Error: the path-safety message, or "'x' is outside the repository's working tree".
Expected<std::string, std::string> RepositoryPathspec(git_repository* repo,
                                                      const std::filesystem::path& workspace,
                                                      const std::string& user_path);

// Diff options limited to one path (a literal path, not a pattern), owning the pathspec storage
// that `opts` points into — hence heap-allocated and never copied.
struct PathDiffOptions {
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  std::string pathspec;
  char* pathspec_ptr = nullptr;
};

// Options for diffing `user_path` (resolved like RepositoryPathspec), or the whole tree when
// `user_path` is empty. Error: the RepositoryPathspec message.
Expected<std::unique_ptr<PathDiffOptions>, std::string> DiffOptionsForPath(
    git_repository* repo, const std::filesystem::path& workspace, const std::string& user_path);

// `repo_path` (relative to the working directory, as libgit2 reports it) relative to the
// workspace instead, so that the model can pass it to the other tools; unchanged when the
// workspace is the working directory.
std::string WorkspacePathFromRepository(git_repository* repo,
                                        const std::filesystem::path& workspace,
                                        const std::string& repo_path);

}  // namespace dsagent
