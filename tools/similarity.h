// String similarity for "did you mean" suggestions (similar file names, candidate lines for a
// failed edit). Byte-based; good enough for identifiers and source lines.
#pragma once

#include <cstddef>
#include <string_view>

namespace dsagent {

// Edit distance between `a` and `b` counting insertions, deletions, substitutions and swaps of
// two adjacent characters (optimal string alignment), so the typical typo "mian" for "main"
// costs 1. O(|a|*|b|) time, O(|b|) memory: callers bound the lengths.
size_t EditDistance(std::string_view a, std::string_view b);

// 1 - EditDistance / max(|a|, |b|): 1.0 for equal strings, 0.0 for nothing in common.
// Two empty strings are equal (1.0).
double Similarity(std::string_view a, std::string_view b);

}  // namespace dsagent
