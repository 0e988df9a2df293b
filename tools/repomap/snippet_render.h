// Renders ranked definitions as the map's text: per file (in path order) the lines that declare
// each chosen definition, with the header lines of the scopes around it (class, namespace, impl),
// and "⋮" where code is elided. Lines are prefixed "│" and cut at kMaxRenderedLineBytes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tools/repomap/file_scan.h"
#include "tools/repomap/ranking.h"

namespace dsagent::repomap {

inline constexpr size_t kMaxRenderedLineBytes = 100;

// Not thread-safe (it caches the lines of the files it has rendered).
class SnippetRenderer {
 public:
  SnippetRenderer(std::filesystem::path workspace, const std::vector<ScannedFile>& files);

  // The map for `definitions` (any order; the output does not depend on it). A file that can no
  // longer be read renders as its path alone.
  std::string Render(const std::vector<RankedDefinition>& definitions);

 private:
  const std::vector<std::string>& Lines(size_t file);
  // The lines one definition needs (memoised: the budget search renders many times).
  const std::vector<uint32_t>& DefinitionLines(size_t file, size_t tag);

  std::filesystem::path workspace_;
  const std::vector<ScannedFile>& files_;
  std::map<size_t, std::vector<std::string>> lines_;
  std::map<std::pair<size_t, size_t>, std::vector<uint32_t>> definition_lines_;
};

// The token estimate the map is fitted with: ~4 bytes per token, the estimate used across dsagent.
size_t EstimateTokens(std::string_view text);

}  // namespace dsagent::repomap
