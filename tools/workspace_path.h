// Path safety: every path a tool receives from the model is resolved here, so that tools can only
// touch files inside the workspace. Relative paths resolve against the workspace; absolute paths
// are accepted only when they point inside it. `..` escapes and symbolic-link escapes (a path
// whose existing part, once links are resolved, lies outside the workspace) are refused, and so
// are writes into `.git/` internals. Races with concurrent renames are out of scope: this guards
// against the model's mistakes, the sandbox guards against hostile processes.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace dsagent {

enum class PathAccess { kRead, kWrite };

struct WorkspacePath {
  // Absolute, with every existing symbolic link resolved; components that do not exist yet are
  // appended as given. Operate on this path, never on the model's string.
  std::filesystem::path absolute;
  // `absolute` relative to the (canonical) workspace, "." for the workspace itself. For messages.
  std::string relative;
};

// Resolves `user_path` against `workspace`. Success: the resolved path (which may not exist).
// Failure: a one-line message the model can act on, e.g.
// "path '../x' is outside the workspace /w". Never throws. Thread-safe.
Expected<WorkspacePath, std::string> ResolveWorkspacePath(const std::filesystem::path& workspace,
                                                          std::string_view user_path,
                                                          PathAccess access);

// `absolute` relative to the canonical form of `workspace` ("." for the root itself); the path
// unchanged when it is not inside. For displaying paths found by walking the workspace.
std::string WorkspaceRelative(const std::filesystem::path& workspace,
                              const std::filesystem::path& absolute);

// True when `path` equals `root` or lies below it (component-wise; both should be normalised).
bool IsWithin(const std::filesystem::path& path, const std::filesystem::path& root);

}  // namespace dsagent
