// Project instructions: the AGENTS.md (and CLAUDE.md) files a repository keeps for coding agents,
// read once when a session starts and placed as one message right after the static prefix (see
// DESIGN.md §3) — never rebuilt into the system prompt, so editing them mid-session cannot break
// the cached prefix; a new session picks the edits up.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dsagent {

// The instruction file names looked for in each directory, in the order they are placed.
inline const std::vector<std::string>& ProjectInstructionFileNames() {
  static const std::vector<std::string> names = {"AGENTS.md", "CLAUDE.md"};
  return names;
}

// Each bigger file is cut to this many bytes (with a note saying so).
inline constexpr size_t kMaxProjectInstructionBytes = 32 * 1024;

// The instruction files that apply to `workspace`: those in the enclosing git repository's root
// (the nearest ancestor holding `.git`) down to the workspace itself, root first; only the
// workspace's own when it is not inside a repository. Regular files only.
std::vector<std::filesystem::path> FindProjectInstructionFiles(
    const std::filesystem::path& workspace);

// The session-start message: a short header, then each file under a "## <path>" heading (path
// relative to the workspace, e.g. "AGENTS.md" or "../AGENTS.md"), as valid UTF-8. "" when there
// are no instruction files (or none is readable).
std::string ProjectInstructionsMessage(const std::filesystem::path& workspace);

}  // namespace dsagent
