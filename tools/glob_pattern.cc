#include "tools/glob_pattern.h"

namespace dsagent {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view c = path.substr(start, slash - start);
    if (!c.empty() && c != ".") out.push_back(c);
    start = slash + 1;
  }
  return out;
}

bool HasWildcard(std::string_view component) {
  return component.find_first_of("*?[") != std::string_view::npos;
}

// Matches character class `pattern[pos..]` (pos just after '[') against `c`. On success sets
// `next` to the index after the closing ']'. Returns -1 when the class is unterminated.
int MatchClass(std::string_view pattern, size_t pos, char c, size_t& next) {
  bool negate = false;
  if (pos < pattern.size() && (pattern[pos] == '!' || pattern[pos] == '^')) {
    negate = true;
    ++pos;
  }
  bool matched = false;
  bool first = true;
  while (pos < pattern.size() && (first || pattern[pos] != ']')) {
    first = false;
    const char lo = pattern[pos];
    if (pos + 2 < pattern.size() && pattern[pos + 1] == '-' && pattern[pos + 2] != ']') {
      const char hi = pattern[pos + 2];
      if (lo <= c && c <= hi) matched = true;
      pos += 3;
    } else {
      if (lo == c) matched = true;
      ++pos;
    }
  }
  if (pos >= pattern.size()) return -1;
  next = pos + 1;
  return matched != negate ? 1 : 0;
}

}  // namespace

bool GlobMatchComponent(std::string_view pattern, std::string_view name) {
  size_t p = 0, n = 0;
  size_t star_p = std::string_view::npos, star_n = 0;  // backtrack point for the last '*'
  while (n < name.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        while (p < pattern.size() && pattern[p] == '*') ++p;
        star_p = p;
        star_n = n;
        continue;
      }
      if (pc == '?') {
        ++p, ++n;
        continue;
      }
      if (pc == '[') {
        size_t next = 0;
        const int m = MatchClass(pattern, p + 1, name[n], next);
        if (m == 1) {
          p = next, ++n;
          continue;
        }
        if (m == -1 && name[n] == '[') {  // unterminated: a literal '['
          ++p, ++n;
          continue;
        }
      } else if (pc == name[n]) {
        ++p, ++n;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

GlobPattern::GlobPattern(std::string_view pattern) {
  for (std::string_view c : SplitPath(pattern)) components_.emplace_back(c);
}

std::vector<std::vector<bool>> GlobPattern::Reach(const std::vector<std::string_view>& path) const {
  const size_t np = components_.size(), nc = path.size();
  std::vector<std::vector<bool>> reach(np + 1, std::vector<bool>(nc + 1, false));
  reach[0][0] = true;
  for (size_t i = 0; i <= np; ++i) {
    for (size_t j = 0; j <= nc; ++j) {
      if (!reach[i][j] || i == np) continue;
      if (components_[i] == "**") {
        reach[i + 1][j] = true;              // matches no component
        if (j < nc) reach[i][j + 1] = true;  // swallows one more
      } else if (j < nc && GlobMatchComponent(components_[i], path[j])) {
        reach[i + 1][j + 1] = true;
      }
    }
  }
  return reach;
}

bool GlobPattern::Matches(std::string_view relative_path) const {
  const std::vector<std::string_view> path = SplitPath(relative_path);
  return Reach(path)[components_.size()][path.size()];
}

bool GlobPattern::CouldMatchBelow(std::string_view relative_dir) const {
  const std::vector<std::string_view> path = SplitPath(relative_dir);
  const auto reach = Reach(path);
  for (size_t i = 0; i < components_.size(); ++i) {
    if (reach[i][path.size()]) return true;
  }
  return false;
}

std::string GlobPattern::LiteralDirectoryPrefix() const {
  std::string out;
  for (size_t i = 0; i + 1 < components_.size() && !HasWildcard(components_[i]); ++i) {
    if (!out.empty()) out += '/';
    out.append(components_[i]);
  }
  return out;
}

int GlobPattern::MaxDepth() const {
  for (const std::string& c : components_) {
    if (c == "**") return 0;
  }
  return static_cast<int>(components_.size());
}

}  // namespace dsagent
