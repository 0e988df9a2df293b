#include "tools/workspace_path.h"

#include <algorithm>
#include <cctype>
#include <system_error>
#include <vector>

#include "tools/shown_name.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

// Linux's limit (MAXSYMLINKS); beyond it the path is a loop for all practical purposes.
constexpr int kMaxSymlinkHops = 40;

fs::path CanonicalOrNormal(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

// Resolves `abs` the way the kernel would (symbolic links are followed before a following `..` is
// applied), except that components which do not exist are appended lexically instead of failing.
Expected<fs::path, std::string> ResolveLinks(const fs::path& abs, std::string_view user_path) {
  std::vector<fs::path> pending;  // components still to walk, last one on top
  for (const auto& c : abs.relative_path()) pending.push_back(c);
  std::reverse(pending.begin(), pending.end());
  fs::path out = "/";
  int hops = 0;
  while (!pending.empty()) {
    const fs::path comp = pending.back();
    pending.pop_back();
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      out = out.parent_path();
      continue;
    }
    const fs::path next = out / comp;
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(next, ec);
    if (!ec && fs::is_symlink(st)) {
      if (++hops > kMaxSymlinkHops) {
        return MakeUnexpected("path '" + std::string(user_path) +
                              "' has too many levels of symbolic links");
      }
      const fs::path target = fs::read_symlink(next, ec);
      if (ec) {
        return MakeUnexpected("cannot read symbolic link '" + next.string() + "': " + ec.message());
      }
      std::vector<fs::path> parts(target.begin(), target.end());
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (*it != "/") pending.push_back(*it);
      }
      if (target.is_absolute()) out = "/";
      continue;
    }
    out = next;
  }
  return out;
}

bool HasGitComponent(const fs::path& relative) {
  return std::any_of(relative.begin(), relative.end(), [](const fs::path& c) {
    std::string s = c.string();
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    return s == ".git";
  });
}

// The path to use for what the model wrote: as written, unless it names nothing while the same
// text with ShownName's `\xNN` byte escapes decoded names an entry (a file whose name is not valid
// UTF-8, which a listing showed that way). An entry spelled literally always wins.
std::string ChooseSpelling(const fs::path& ws, std::string_view user_path) {
  const std::optional<std::string> decoded = DecodeShownByteEscapes(user_path);
  if (!decoded) return std::string(user_path);
  auto exists = [&ws](const fs::path& p) {
    std::error_code ec;
    return fs::exists(fs::symlink_status(p.is_absolute() ? p : ws / p, ec));
  };
  if (exists(fs::path(user_path)) || !exists(fs::path(*decoded))) return std::string(user_path);
  return *decoded;
}

}  // namespace

bool IsWithin(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // trailing separator of the root
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

std::string WorkspaceRelative(const fs::path& workspace, const fs::path& absolute) {
  const fs::path ws = CanonicalOrNormal(workspace);
  if (!IsWithin(absolute, ws)) return absolute.string();
  fs::path rel = absolute.lexically_relative(ws);
  return rel.empty() ? std::string(".") : rel.string();
}

Expected<WorkspacePath, std::string> ResolveWorkspacePath(const fs::path& workspace,
                                                          std::string_view user_path,
                                                          PathAccess access) {
  const std::string quoted = "'" + std::string(user_path) + "'";
  if (user_path.empty()) return MakeUnexpected(std::string("path is empty"));
  if (user_path.find('\0') != std::string_view::npos) {
    return MakeUnexpected("path " + quoted + " contains a NUL byte");
  }
  std::error_code ec;
  const fs::path ws = fs::canonical(workspace, ec);
  if (ec) {
    return MakeUnexpected("workspace " + workspace.string() +
                          " is not accessible: " + ec.message());
  }
  const fs::path given(ChooseSpelling(ws, user_path));
  // The lexical check gives the clearest message for `..` and absolute paths; the workspace may
  // have been configured through a symbolic link, so both of its spellings count as inside.
  const fs::path lexical = (given.is_absolute() ? given : ws / given).lexically_normal();
  if (!IsWithin(lexical, ws) && !IsWithin(lexical, workspace.lexically_normal())) {
    return MakeUnexpected("path " + quoted + " is outside the workspace " + ws.string());
  }
  auto resolved = ResolveLinks(given.is_absolute() ? given : ws / given, user_path);
  if (!resolved) return MakeUnexpected(resolved.error());
  if (!IsWithin(*resolved, ws)) {
    return MakeUnexpected("path " + quoted + " resolves through a symbolic link to " +
                          resolved->string() + ", outside the workspace " + ws.string());
  }
  WorkspacePath out;
  out.absolute = *resolved;
  out.relative = WorkspaceRelative(ws, out.absolute);
  if (access == PathAccess::kWrite &&
      (HasGitComponent(out.relative) || HasGitComponent(lexical.lexically_relative(ws)))) {
    return MakeUnexpected("path " + quoted +
                          " is inside .git/; git's internal files cannot be written by tools");
  }
  return out;
}

}  // namespace dsagent
