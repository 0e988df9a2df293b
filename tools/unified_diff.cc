#include "tools/unified_diff.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace dsagent {
namespace {

// Myers' trace costs (D+1)^2 ints; past this many edits we fall back to delete-all/insert-all.
constexpr int kMaxEditDistance = 2000;

enum class Op { kEqual, kDelete, kInsert };

struct Edit {
  Op op;
  size_t old_pos;  // index into the old lines (for kInsert: the old line that follows)
  size_t new_pos;  // index into the new lines (for kDelete: the new line that follows)
};

// Lines including their terminating '\n' (the last one may lack it).
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

// Myers' O((N+M)D) greedy algorithm on line ids a[0..n) and b[0..m), appending the edit script
// (positions offset by `base_old`/`base_new`) to `out`. Returns false if more than
// kMaxEditDistance edits are needed (nothing appended then).
bool MyersDiff(const std::vector<int>& a, const std::vector<int>& b, size_t base_old,
               size_t base_new, std::vector<Edit>& out) {
  const int n = static_cast<int>(a.size());
  const int m = static_cast<int>(b.size());
  const int max_d = std::min(n + m, kMaxEditDistance);
  std::vector<std::vector<int>> trace;  // trace[d][k + d] = furthest x on diagonal k after step d
  int final_d = -1;
  for (int d = 0; d <= max_d && final_d < 0; ++d) {
    std::vector<int> v(2 * d + 1);
    const std::vector<int>* prev = d > 0 ? &trace[d - 1] : nullptr;
    for (int k = -d; k <= d; k += 2) {
      int x;
      if (d == 0) {
        x = 0;
      } else if (k == -d || (k != d && (*prev)[k - 1 + d - 1] < (*prev)[k + 1 + d - 1])) {
        x = (*prev)[k + 1 + d - 1];  // down: insertion
      } else {
        x = (*prev)[k - 1 + d - 1] + 1;  // right: deletion
      }
      int y = x - k;
      while (x < n && y < m && a[x] == b[y]) ++x, ++y;
      v[k + d] = x;
      if (x >= n && y >= m) final_d = d;
    }
    trace.push_back(std::move(v));
  }
  if (final_d < 0) return false;

  std::vector<Edit> reversed;
  int x = n, y = m;
  for (int d = final_d; d > 0; --d) {
    const std::vector<int>& prev = trace[d - 1];
    const int k = x - y;
    const bool down = k == -d || (k != d && prev[k - 1 + d - 1] < prev[k + 1 + d - 1]);
    const int prev_k = down ? k + 1 : k - 1;
    const int prev_x = prev[prev_k + d - 1];
    const int prev_y = prev_x - prev_k;
    const int step_x = down ? prev_x : prev_x + 1;  // where the snake of step d started
    const int step_y = step_x - k;
    while (x > step_x && y > step_y) {
      --x, --y;
      reversed.push_back({Op::kEqual, base_old + x, base_new + y});
    }
    if (down) {
      reversed.push_back({Op::kInsert, base_old + prev_x, base_new + prev_y});
    } else {
      reversed.push_back({Op::kDelete, base_old + prev_x, base_new + prev_y});
    }
    x = prev_x, y = prev_y;
  }
  while (x > 0 && y > 0) {
    --x, --y;
    reversed.push_back({Op::kEqual, base_old + x, base_new + y});
  }
  out.insert(out.end(), reversed.rbegin(), reversed.rend());
  return true;
}

std::vector<Edit> EditScript(const std::vector<std::string_view>& old_lines,
                             const std::vector<std::string_view>& new_lines) {
  std::vector<Edit> edits;
  size_t prefix = 0;
  while (prefix < old_lines.size() && prefix < new_lines.size() &&
         old_lines[prefix] == new_lines[prefix]) {
    edits.push_back({Op::kEqual, prefix, prefix});
    ++prefix;
  }
  size_t suffix = 0;
  while (suffix < old_lines.size() - prefix && suffix < new_lines.size() - prefix &&
         old_lines[old_lines.size() - 1 - suffix] == new_lines[new_lines.size() - 1 - suffix]) {
    ++suffix;
  }
  const size_t old_end = old_lines.size() - suffix;
  const size_t new_end = new_lines.size() - suffix;

  // Compare small integers instead of strings inside the O(ND) loop.
  std::unordered_map<std::string_view, int> ids;
  auto to_ids = [&](const std::vector<std::string_view>& lines, size_t begin, size_t end) {
    std::vector<int> out;
    out.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) {
      out.push_back(ids.emplace(lines[i], static_cast<int>(ids.size())).first->second);
    }
    return out;
  };
  const std::vector<int> a = to_ids(old_lines, prefix, old_end);
  const std::vector<int> b = to_ids(new_lines, prefix, new_end);
  if (!MyersDiff(a, b, prefix, prefix, edits)) {
    for (size_t i = prefix; i < old_end; ++i) edits.push_back({Op::kDelete, i, prefix});
    for (size_t j = prefix; j < new_end; ++j) edits.push_back({Op::kInsert, old_end, j});
  }
  for (size_t s = 0; s < suffix; ++s) edits.push_back({Op::kEqual, old_end + s, new_end + s});
  return edits;
}

std::string RangeSpec(size_t first_pos, size_t count) {
  // A hunk that covers no lines names the line before it (0 at the start of the file).
  std::string out = std::to_string(count == 0 ? first_pos : first_pos + 1);
  if (count != 1) out += "," + std::to_string(count);
  return out;
}

void AppendLine(std::string& out, char prefix, std::string_view line) {
  out += prefix;
  out.append(line);
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

std::string UnifiedDiff(std::string_view old_text, std::string_view new_text,
                        std::string_view old_label, std::string_view new_label, int context_lines) {
  if (old_text == new_text) return "";
  const size_t context = static_cast<size_t>(std::max(context_lines, 0));
  const std::vector<std::string_view> old_lines = SplitLines(old_text);
  const std::vector<std::string_view> new_lines = SplitLines(new_text);
  const std::vector<Edit> edits = EditScript(old_lines, new_lines);

  std::string out;
  out += "--- ";
  out.append(old_label);
  out += "\n+++ ";
  out.append(new_label);
  out += "\n";

  size_t i = 0;
  while (i < edits.size()) {
    while (i < edits.size() && edits[i].op == Op::kEqual) ++i;
    if (i == edits.size()) break;
    const size_t begin = i >= context ? i - context : 0;
    // Extend over changes and short equal runs until an equal run can separate two hunks.
    size_t end = i;
    while (true) {
      while (end < edits.size() && edits[end].op != Op::kEqual) ++end;
      size_t run = end;
      while (run < edits.size() && edits[run].op == Op::kEqual) ++run;
      if (run == edits.size() || run - end > 2 * context) {
        end = std::min(end + context, edits.size());
        break;
      }
      end = run;
    }
    size_t old_count = 0, new_count = 0;
    for (size_t k = begin; k < end; ++k) {
      if (edits[k].op != Op::kInsert) ++old_count;
      if (edits[k].op != Op::kDelete) ++new_count;
    }
    out += "@@ -" + RangeSpec(edits[begin].old_pos, old_count) + " +" +
           RangeSpec(edits[begin].new_pos, new_count) + " @@\n";
    for (size_t k = begin; k < end; ++k) {
      const Edit& e = edits[k];
      switch (e.op) {
        case Op::kEqual:
          AppendLine(out, ' ', old_lines[e.old_pos]);
          break;
        case Op::kDelete:
          AppendLine(out, '-', old_lines[e.old_pos]);
          break;
        case Op::kInsert:
          AppendLine(out, '+', new_lines[e.new_pos]);
          break;
      }
    }
    i = end;
  }
  return out;
}

}  // namespace dsagent
