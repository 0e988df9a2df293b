#include "agent/config/closest_key.h"

#include <algorithm>

namespace dsagent {
namespace {

// Optimal string alignment distance (Damerau-Levenshtein without repeated edits of a substring):
// a swapped pair such as "bsah" for "bash" counts as one typo.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::optional<std::string> ClosestKey(std::string_view key,
                                      const std::vector<std::string>& candidates) {
  const size_t max_distance = std::min<size_t>(6, std::max<size_t>(1, key.size() / 3));
  std::optional<std::string> best;
  size_t best_distance = max_distance + 1;
  for (const std::string& candidate : candidates) {
    const size_t distance = EditDistance(key, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::string DidYouMean(std::string_view key, const std::vector<std::string>& candidates) {
  const auto closest = ClosestKey(key, candidates);
  return closest ? " (did you mean '" + *closest + "'?)" : "";
}

}  // namespace dsagent
