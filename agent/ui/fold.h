// Folding long output for display: the first and last lines stay, the middle becomes one marker
// line ("… 120 lines folded"). The model always gets the full text; only the screen is folded.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent {

struct FoldedText {
  std::vector<std::string> lines;  // kept lines, the marker included, without newlines
  std::optional<size_t> marker;    // index of the marker in `lines`, when something was folded
  size_t total_lines = 0;          // lines in the original text
};

// Splits `text` into lines (a trailing newline does not start another line) and, when there are
// more than head + tail + 1, keeps `head` first and `tail` last lines around the marker.
FoldedText FoldLines(std::string_view text, size_t head, size_t tail);

// Lines in `text`: newlines, plus one for a last line without a newline; 0 for "".
size_t CountTextLines(std::string_view text);

}  // namespace dsagent
