#include "agent/ui/fold.h"

namespace dsagent {

size_t CountTextLines(std::string_view text) {
  if (text.empty()) return 0;
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n + (text.back() == '\n' ? 0 : 1);
}

FoldedText FoldLines(std::string_view text, size_t head, size_t tail) {
  std::vector<std::string> all;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    all.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  FoldedText out;
  out.total_lines = all.size();
  if (all.size() <= head + tail + 1) {
    out.lines = std::move(all);
    return out;
  }
  const size_t folded = all.size() - head - tail;
  out.lines.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(head));
  out.marker = out.lines.size();
  out.lines.push_back("… " + std::to_string(folded) + " lines folded");
  out.lines.insert(out.lines.end(), all.end() - static_cast<std::ptrdiff_t>(tail), all.end());
  return out;
}

}  // namespace dsagent
