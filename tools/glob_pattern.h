// Glob patterns over '/'-separated relative paths, as used by the glob and grep tools:
// `*` matches any run of characters within one path component, `?` one character (never '/'),
// `[abc]`, `[a-z]`, `[!x]` / `[^x]` a character class, and `**` as a whole component any number
// of directories (including none). An unterminated `[` is a literal. Matching is case-sensitive.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsagent {

class GlobPattern {
 public:
  explicit GlobPattern(std::string_view pattern);

  // True when the whole of `relative_path` matches.
  bool Matches(std::string_view relative_path) const;

  // True when some path strictly below directory `relative_dir` could match: lets a walk prune
  // directories that cannot contain matches.
  bool CouldMatchBelow(std::string_view relative_dir) const;

  // The leading components that contain no wildcard, excluding the last component ("src/util"
  // for "src/util/**/*.h"; "" for "*.cc"): the directory a walk can start from.
  std::string LiteralDirectoryPrefix() const;

  // Components of the pattern; a walk deeper than this cannot match. 0 when `**` makes the depth
  // unlimited.
  int MaxDepth() const;

  // True when the pattern has a '/' (so it is meant for a path, not just a file name).
  bool HasSlash() const { return components_.size() > 1; }

 private:
  // reach[i][j]: the first i pattern components match the first j path components.
  std::vector<std::vector<bool>> Reach(const std::vector<std::string_view>& path) const;

  std::vector<std::string> components_;  // without empty and "." components
};

// True when `name` (one path component) matches `pattern` (`*`, `?`, `[...]`; no `/`).
bool GlobMatchComponent(std::string_view pattern, std::string_view name);

}  // namespace dsagent
