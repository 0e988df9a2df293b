#include "agent/core/project_instructions.h"

#include <algorithm>

#include "common/file_io.h"
#include "common/utf8.h"

namespace dsagent {
namespace fs = std::filesystem;

std::vector<fs::path> FindProjectInstructionFiles(const fs::path& workspace) {
  // The directories from the repository root (if any) down to the workspace.
  std::vector<fs::path> dirs;
  std::error_code ec;
  bool in_repo = false;
  for (fs::path dir = workspace;; dir = dir.parent_path()) {
    dirs.push_back(dir);
    if (fs::exists(dir / ".git", ec)) {
      in_repo = true;
      break;
    }
    if (dir == dir.parent_path() || dir.empty()) break;
  }
  if (!in_repo) dirs = {workspace};
  std::reverse(dirs.begin(), dirs.end());

  std::vector<fs::path> files;
  for (const fs::path& dir : dirs) {
    for (const std::string& name : ProjectInstructionFileNames()) {
      const fs::path p = dir / name;
      if (fs::is_regular_file(p, ec)) files.push_back(p);
    }
  }
  return files;
}

std::string ProjectInstructionsMessage(const fs::path& workspace) {
  std::string body;
  for (const fs::path& file : FindProjectInstructionFiles(workspace)) {
    auto text = ReadFileToString(file);
    if (!text || text->empty()) continue;
    std::string content = std::move(*text);
    if (content.size() > kMaxProjectInstructionBytes) {
      content.resize(Utf8SafePrefixLength(content, kMaxProjectInstructionBytes));
      content += "\n[... cut: the file is longer than " +
                 std::to_string(kMaxProjectInstructionBytes / 1024) + " KiB]";
    }
    if (content.back() != '\n') content += '\n';
    body += "\n## " + file.lexically_relative(workspace).string() + "\n\n" + SanitizeUtf8(content);
  }
  if (body.empty()) return "";
  return "Project instructions from the repository's agent instruction files. Follow them unless "
         "the user says otherwise.\n" +
         body;
}

}  // namespace dsagent
