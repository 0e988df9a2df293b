#include "tools/git_support.h"

#include <mutex>
#include <system_error>

#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;

void EnsureLibgit2Initialized() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

std::string LastGitError() {
  const git_error* e = git_error_last();
  return e && e->message ? std::string(e->message) : std::string("unknown libgit2 error");
}

Expected<GitRepository, std::string> OpenRepository(const fs::path& dir) {
  EnsureLibgit2Initialized();
  git_repository* raw = nullptr;
  const int rc = git_repository_open_ext(&raw, dir.c_str(), 0, nullptr);
  GitRepository repo(raw);
  if (rc == GIT_ENOTFOUND) return MakeUnexpected(dir.string() + " is not inside a git repository");
  if (rc < 0) return MakeUnexpected("cannot open the git repository: " + LastGitError());
  if (git_repository_is_bare(repo.get())) {
    return MakeUnexpected(dir.string() + " is inside a bare git repository (no working tree)");
  }
  // A repository's config can move its working tree anywhere (core.worktree = /): status and
  // diff would then read files far outside the workspace. Only a working tree that holds the
  // repository's .git and contains `dir` is read.
  const fs::path workdir = RepositoryWorkdir(repo.get());
  std::error_code ec;
  const fs::path here = fs::canonical(dir, ec);
  if (!fs::exists(fs::symlink_status(workdir / ".git", ec)) ||
      (!here.empty() && !IsWithin(here, workdir))) {
    return MakeUnexpected("the git repository of " + dir.string() + " sets its working tree to " +
                          workdir.string() +
                          " (core.worktree), outside the workspace: the git tools read only a "
                          "working tree that holds its .git");
  }
  return repo;
}

fs::path RepositoryWorkdir(git_repository* repo) {
  const char* workdir = git_repository_workdir(repo);
  if (!workdir) return {};
  std::error_code ec;
  fs::path canonical = fs::canonical(workdir, ec);
  return ec ? fs::path(workdir).lexically_normal() : canonical;
}

Expected<std::string, std::string> RepositoryPathspec(git_repository* repo,
                                                      const fs::path& workspace,
                                                      const std::string& user_path) {
  auto resolved = ResolveWorkspacePath(workspace, user_path, PathAccess::kRead);
  if (!resolved) return MakeUnexpected(resolved.error());
  const fs::path workdir = RepositoryWorkdir(repo);
  if (!IsWithin(resolved->absolute, workdir)) {
    return MakeUnexpected("'" + user_path + "' is outside the repository's working tree");
  }
  const std::string rel = resolved->absolute.lexically_relative(workdir).generic_string();
  return rel == "." ? std::string() : rel;
}

std::string WorkspacePathFromRepository(git_repository* repo, const fs::path& workspace,
                                        const std::string& repo_path) {
  const fs::path workdir = RepositoryWorkdir(repo);
  std::error_code ec;
  fs::path ws = fs::canonical(workspace, ec);
  if (ec || ws == workdir) return repo_path;
  return (workdir / repo_path).lexically_normal().lexically_relative(ws).generic_string();
}

Expected<std::unique_ptr<PathDiffOptions>, std::string> DiffOptionsForPath(
    git_repository* repo, const fs::path& workspace, const std::string& user_path) {
  auto out = std::make_unique<PathDiffOptions>();
  out->opts.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH;  // a path is a path, not a pattern
  if (user_path.empty()) return out;
  auto spec = RepositoryPathspec(repo, workspace, user_path);
  if (!spec) return MakeUnexpected(spec.error());
  out->pathspec = *spec;
  if (!out->pathspec.empty()) {
    out->pathspec_ptr = out->pathspec.data();
    out->opts.pathspec.strings = &out->pathspec_ptr;
    out->opts.pathspec.count = 1;
  }
  return out;
}

}  // namespace dsagent
