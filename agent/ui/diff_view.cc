#include "agent/ui/diff_view.h"

#include <algorithm>

#include "agent/ui/fold.h"

namespace dsagent {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Style LineStyle(std::string_view line) {
  if (StartsWith(line, "+++") || StartsWith(line, "---") || StartsWith(line, "diff ") ||
      StartsWith(line, "index ") || StartsWith(line, "new file") ||
      StartsWith(line, "deleted file")) {
    return Style::kBold;
  }
  if (StartsWith(line, "@@")) return Style::kCyan;
  if (StartsWith(line, "+")) return Style::kGreen;
  if (StartsWith(line, "-")) return Style::kRed;
  return Style::kPlain;
}

}  // namespace

DiffCounts CountDiffLines(std::string_view diff) {
  DiffCounts c;
  size_t start = 0;
  while (start < diff.size()) {
    size_t end = diff.find('\n', start);
    if (end == std::string_view::npos) end = diff.size();
    const std::string_view line = diff.substr(start, end - start);
    if (StartsWith(line, "+") && !StartsWith(line, "+++")) ++c.added;
    if (StartsWith(line, "-") && !StartsWith(line, "---")) ++c.removed;
    start = end + 1;
  }
  return c;
}

void ShowDiff(Screen& screen, std::string_view diff, size_t max_lines, std::string_view indent) {
  const size_t head = max_lines * 2 / 3;
  const size_t tail = max_lines > head + 1 ? max_lines - head - 1 : 0;
  const FoldedText folded = FoldLines(diff, head, tail);
  const int width = screen.width();
  const int room = width > 0 ? std::max(8, width - static_cast<int>(DisplayWidth(indent))) : 0;
  for (size_t i = 0; i < folded.lines.size(); ++i) {
    const std::string& line = folded.lines[i];
    const Style style = folded.marker == i ? Style::kDim : LineStyle(line);
    screen.Line(std::string(indent) + screen.Paint(style, FitWidth(line, room)));
  }
}

}  // namespace dsagent
