#include "tools/edit_candidates.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <tuple>
#include <vector>

#include "common/utf8.h"
#include "tools/similarity.h"

namespace dsagent {
namespace {

constexpr size_t kMaxCandidates = 3;
constexpr size_t kMaxShownLines = 30;      // of a whitespace-insensitive match
constexpr size_t kMaxComparedBytes = 400;  // per line, to bound the edit-distance cost
constexpr double kMinLineSimilarity = 0.5;

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = nl + 1;
  }
  return lines;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

void AppendNumbered(std::string& out, size_t line_no, std::string_view text) {
  char number[32];
  std::snprintf(number, sizeof number, "%6zu\t", line_no);
  out += number;
  out += SanitizeUtf8(text);
  out += '\n';
}

// Matches of `needle` in `content` when all whitespace is ignored, as 1-based line ranges.
std::vector<std::pair<size_t, size_t>> WhitespaceInsensitiveMatches(std::string_view content,
                                                                    std::string_view needle) {
  std::string squeezed;
  std::vector<size_t> line_of;  // line number of each byte of `squeezed`
  size_t line = 1;
  for (char c : content) {
    if (c == '\n') ++line;
    if (IsSpace(c)) continue;
    squeezed += c;
    line_of.push_back(line);
  }
  std::string want;
  for (char c : needle) {
    if (!IsSpace(c)) want += c;
  }
  std::vector<std::pair<size_t, size_t>> ranges;
  if (want.empty()) return ranges;
  for (size_t pos = squeezed.find(want); pos != std::string::npos && ranges.size() < kMaxCandidates;
       pos = squeezed.find(want, pos + want.size())) {
    ranges.emplace_back(line_of[pos], line_of[pos + want.size() - 1]);
  }
  return ranges;
}

}  // namespace

std::string DescribeNearMisses(std::string_view content, std::string_view old_string) {
  const std::vector<std::string_view> lines = Lines(content);
  std::string out;

  const auto ranges = WhitespaceInsensitiveMatches(content, old_string);
  if (!ranges.empty()) {
    out =
        "old_string does match if whitespace is ignored (indentation or line breaks differ). "
        "The exact text is:\n";
    for (const auto& [first, last] : ranges) {
      const size_t shown_last = std::min(last, first + kMaxShownLines - 1);
      for (size_t n = first; n <= shown_last && n <= lines.size(); ++n) {
        AppendNumbered(out, n, lines[n - 1]);
      }
      if (shown_last < last) out += "   ...\n";
      if (ranges.size() > 1) out += "--\n";
    }
    return out;
  }

  // Otherwise rank lines by similarity to old_string's first non-blank line.
  std::string_view probe;
  for (std::string_view l : Lines(old_string)) {
    if (!Trim(l).empty()) {
      probe = Trim(l);
      break;
    }
  }
  if (probe.empty()) return "";
  probe = probe.substr(0, kMaxComparedBytes);
  std::vector<std::tuple<double, size_t>> scored;  // (-similarity, line number)
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view candidate = Trim(lines[i]).substr(0, kMaxComparedBytes);
    // Lines of very different length cannot be similar enough; skip the quadratic comparison.
    if (candidate.empty() || candidate.size() * 2 < probe.size() ||
        probe.size() * 2 < candidate.size()) {
      continue;
    }
    const double similarity = Similarity(probe, candidate);
    if (similarity >= kMinLineSimilarity) scored.emplace_back(-similarity, i + 1);
  }
  if (scored.empty()) return "";
  std::sort(scored.begin(), scored.end());
  scored.resize(std::min(scored.size(), kMaxCandidates));
  out = "The lines most similar to the first line of old_string are:\n";
  for (const auto& [neg_similarity, line_no] : scored)
    AppendNumbered(out, line_no, lines[line_no - 1]);
  return out;
}

}  // namespace dsagent
