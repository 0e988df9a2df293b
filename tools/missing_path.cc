#include "tools/missing_path.h"

#include <algorithm>
#include <cctype>
#include <system_error>
#include <tuple>
#include <vector>

#include "tools/similarity.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxSuggestions = 3;
constexpr size_t kMaxEntriesScanned = 10000;  // a huge directory is not worth scanning fully

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Names in `dir` that plausibly are what `name` meant: small edit distance, same stem with a
// different extension, or one name containing the other.
std::vector<std::string> SimilarNames(const fs::path& dir, const std::string& name) {
  const std::string want = Lower(name);
  const std::string want_stem = Lower(fs::path(name).stem().string());
  std::vector<std::tuple<double, std::string>> scored;  // (-similarity, name)
  std::error_code ec;
  size_t scanned = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end && scanned < kMaxEntriesScanned;
       it.increment(ec), ++scanned) {
    const std::string candidate = it->path().filename().string();
    const std::string lower = Lower(candidate);
    double score = Similarity(want, lower);
    if (!want_stem.empty() && Lower(fs::path(candidate).stem().string()) == want_stem) {
      score = std::max(score, 0.9);
    }
    if (want.size() >= 3 && (lower.find(want) != std::string::npos ||
                             (lower.size() >= 3 && want.find(lower) != std::string::npos))) {
      score = std::max(score, 0.7);
    }
    if (score >= 0.6) {
      const bool is_dir = it->is_directory(ec);
      scored.emplace_back(-score, candidate + (is_dir ? "/" : ""));
    }
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (const auto& [neg_score, n] : scored) {
    if (out.size() == kMaxSuggestions) break;
    out.push_back(n);
  }
  return out;
}

}  // namespace

std::string MissingPathMessage(const fs::path& workspace, const fs::path& absolute,
                               const std::string& shown, const std::string& kind) {
  std::string msg = kind + " '" + shown + "' does not exist";
  const fs::path dir = absolute.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    // Name the nearest missing ancestor so the model sees which part of the path is wrong.
    fs::path missing = dir;
    while (missing.has_parent_path() && missing.parent_path() != missing &&
           !fs::exists(missing.parent_path(), ec)) {
      missing = missing.parent_path();
    }
    return msg + " (nor does directory '" + WorkspaceRelative(workspace, missing) + "')";
  }
  const std::vector<std::string> similar = SimilarNames(dir, absolute.filename().string());
  if (similar.empty()) return msg;
  std::string rel_dir = WorkspaceRelative(workspace, dir);
  rel_dir = rel_dir == "." ? "the workspace root" : rel_dir + "/";
  msg += "; similar names in " + rel_dir + ": ";
  for (size_t i = 0; i < similar.size(); ++i) msg += (i ? ", " : "") + similar[i];
  return msg;
}

}  // namespace dsagent
