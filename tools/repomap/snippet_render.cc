#include "tools/repomap/snippet_render.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/file_io.h"
#include "common/utf8.h"
#include "tools/shown_name.h"

namespace dsagent::repomap {

size_t EstimateTokens(std::string_view text) { return (text.size() + 3) / 4; }

SnippetRenderer::SnippetRenderer(std::filesystem::path workspace,
                                 const std::vector<ScannedFile>& files)
    : workspace_(std::move(workspace)), files_(files) {}

const std::vector<std::string>& SnippetRenderer::Lines(size_t file) {
  auto it = lines_.find(file);
  if (it != lines_.end()) return it->second;
  std::vector<std::string>& lines = lines_[file];
  auto content = ReadFileToString(workspace_ / files_[file].path);
  if (!content) return lines;
  std::string_view rest(*content);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Cut long lines at a character boundary; tabs stay (they are cheap and keep indentation).
    const bool cut = line.size() > kMaxRenderedLineBytes;
    if (cut) line = line.substr(0, Utf8SafePrefixLength(line, kMaxRenderedLineBytes));
    lines.push_back(SanitizeUtf8(line) + (cut ? "…" : ""));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return lines;
}

const std::vector<uint32_t>& SnippetRenderer::DefinitionLines(size_t file, size_t tag) {
  auto it = definition_lines_.find({file, tag});
  if (it != definition_lines_.end()) return it->second;
  const FileTags& ft = files_[file].tags;
  const Tag& def = ft.tags[tag];
  std::set<uint32_t> lines;
  // The declaration: from the definition's first line to its name (a template line, a return
  // type on its own line), at most four lines.
  if (def.line >= def.start_line && def.line - def.start_line <= 3) {
    for (uint32_t l = def.start_line; l <= def.line; ++l) lines.insert(l);
  } else {
    lines.insert(def.start_line);
    lines.insert(def.line);
  }
  // Scope awareness: the first line of every definition or scope block around it.
  auto encloses = [&](uint32_t start, uint32_t end) {
    return start <= def.start_line && end >= def.end_line &&
           !(start == def.start_line && end == def.end_line);
  };
  for (const Tag& t : ft.tags) {
    if (t.role == TagRole::kDefinition && encloses(t.start_line, t.end_line)) {
      lines.insert(t.start_line);
      if (t.line >= t.start_line && t.line - t.start_line <= 3) lines.insert(t.line);
    }
  }
  for (const LineRange& s : ft.scopes) {
    if (encloses(s.start_line, s.end_line)) lines.insert(s.start_line);
  }
  return definition_lines_[{file, tag}] = std::vector<uint32_t>(lines.begin(), lines.end());
}

std::string SnippetRenderer::Render(const std::vector<RankedDefinition>& definitions) {
  // file -> the 1-based lines to show.
  std::map<size_t, std::set<uint32_t>> shown;
  for (const RankedDefinition& d : definitions) {
    const std::vector<uint32_t>& lines = DefinitionLines(d.file, d.tag);
    shown[d.file].insert(lines.begin(), lines.end());
  }

  std::string out;
  for (const auto& [file, lines] : shown) {  // std::map: path order (files are sorted by path)
    out += ShownName(files_[file].path) + ":\n";
    const std::vector<std::string>& text = Lines(file);
    if (text.empty()) continue;
    uint32_t previous = 0;
    for (uint32_t l : lines) {
      if (l == 0 || l > text.size()) continue;
      if (l != previous + 1) out += "⋮\n";
      out += "│" + text[l - 1] + "\n";
      previous = l;
    }
    if (previous < text.size()) out += "⋮\n";
  }
  return out;
}

}  // namespace dsagent::repomap
