// Unified diffs for the screen: coloured like `git diff` (headers bold, hunk headers cyan,
// additions green, deletions red) when the screen has colour, folded when long, and counted
// (+added -removed) for one-line summaries.
#pragma once

#include <string>
#include <string_view>

#include "agent/ui/screen.h"

namespace dsagent {

struct DiffCounts {
  size_t added = 0;
  size_t removed = 0;
};
// Added and removed lines of a unified diff (the ---/+++ headers are not counted).
DiffCounts CountDiffLines(std::string_view diff);

// Writes `diff` to `screen`, each line indented by `indent`, coloured, and cut to the screen
// width. More than max_lines lines are folded (first two thirds, last third).
void ShowDiff(Screen& screen, std::string_view diff, size_t max_lines,
              std::string_view indent = "  ");

}  // namespace dsagent
