#include "tools/file_walk.h"

#include <algorithm>
#include <system_error>

#include "tools/missing_path.h"

namespace dsagent {
namespace fs = std::filesystem;

WorkspaceWalker::WorkspaceWalker(const fs::path& workspace) {
  std::error_code ec;
  workspace_ = fs::canonical(workspace, ec);
  if (ec) workspace_ = workspace.lexically_normal();
  if (auto repo = OpenRepository(workspace)) {
    repo_ = std::move(*repo);
    workdir_ = RepositoryWorkdir(repo_.get());
  }
}

bool WorkspaceWalker::IsIgnored(const fs::path& absolute) {
  if (!repo_ || !IsWithin(absolute, workdir_)) return false;
  const std::string rel = absolute.lexically_relative(workdir_).generic_string();
  if (rel.empty() || rel == ".") return false;
  int ignored = 0;
  if (git_ignore_path_is_ignored(&ignored, repo_.get(), rel.c_str()) < 0) return false;
  return ignored != 0;
}

std::vector<WalkEntry> WorkspaceWalker::Children(const fs::path& dir, int depth) {
  std::vector<WalkEntry> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.filename() == ".git") continue;
    std::error_code type_ec;
    WalkEntry e;
    e.absolute = p;
    e.is_directory = !it->is_symlink(type_ec) && it->is_directory(type_ec);
    e.depth = depth;
    if (IsIgnored(p)) continue;
    e.relative = p.lexically_relative(workspace_).generic_string();
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(),
            [](const WalkEntry& a, const WalkEntry& b) { return a.absolute < b.absolute; });
  return out;
}

void WorkspaceWalker::Walk(const fs::path& root, int max_depth,
                           const std::function<WalkAction(const WalkEntry&)>& visit) {
  WalkBelow(root, 1, max_depth, visit);
}

WalkAction WorkspaceWalker::WalkBelow(const fs::path& dir, int depth, int max_depth,
                                      const std::function<WalkAction(const WalkEntry&)>& visit) {
  for (const WalkEntry& e : Children(dir, depth)) {
    const WalkAction action = visit(e);
    if (action == WalkAction::kStop) return action;
    if (action == WalkAction::kSkipChildren || !e.is_directory) continue;
    if (max_depth > 0 && depth >= max_depth) continue;
    if (WalkBelow(e.absolute, depth + 1, max_depth, visit) == WalkAction::kStop) {
      return WalkAction::kStop;
    }
  }
  return WalkAction::kContinue;
}

Expected<WorkspacePath, std::string> ResolveWalkRoot(const fs::path& workspace,
                                                     const std::string& path) {
  auto resolved = ResolveWorkspacePath(workspace, path, PathAccess::kRead);
  if (!resolved) return resolved;
  std::error_code ec;
  const fs::file_status st = fs::status(resolved->absolute, ec);
  if (!fs::exists(st)) {
    return MakeUnexpected(MissingPathMessage(workspace, resolved->absolute, path, "directory"));
  }
  if (!fs::is_directory(st)) {
    return MakeUnexpected("'" + path + "' is a file, not a directory; use read_file to read it");
  }
  return resolved;
}

void SortTreeOrder(std::vector<std::string>& relative_paths) {
  std::sort(relative_paths.begin(), relative_paths.end(),
            [](const std::string& a, const std::string& b) { return fs::path(a) < fs::path(b); });
}

}  // namespace dsagent
