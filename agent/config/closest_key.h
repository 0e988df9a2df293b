// "Did you mean ...?" for misspelt configuration keys: typos must be reported, not ignored.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent {

// The candidate nearest to `key` by edit distance (insertions, deletions, substitutions and
// swaps of adjacent characters), if it is close enough to be a plausible typo: at most a third
// of the key's length, and never more than 6 edits. nullopt when nothing is that close. Ties go
// to the candidate listed first.
std::optional<std::string> ClosestKey(std::string_view key,
                                      const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" — ready to append to an "unknown key" message.
std::string DidYouMean(std::string_view key, const std::vector<std::string>& candidates);

}  // namespace dsagent
