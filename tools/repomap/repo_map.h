// The repo map: the workspace's most relevant definitions, as elided code, fitted into a token
// budget. BuildRepoMap() scans (tree-sitter tags, cached per file content), ranks (personalised
// PageRank toward the focus, see ranking.h) and renders (snippet_render.h), choosing by binary
// search the largest number of top definitions whose rendering fits the budget. Identical
// workspace content and options give byte-identical text.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "tools/repomap/file_scan.h"

namespace dsagent {

// Default budget of the map in tokens (~4 bytes each), as in Aider's --map-tokens.
inline constexpr size_t kDefaultRepoMapTokens = 1024;

struct RepoMapOptions {
  std::filesystem::path workspace;  // the directory to map
  size_t max_tokens = kDefaultRepoMapTokens;
  // Files (or directories: every file below) the session touched or mentioned, relative to the
  // workspace or absolute inside it. Their definitions are left out (the model has them); the
  // definitions they use rank first.
  std::vector<std::string> focus_paths;
  std::vector<std::string> mentioned_identifiers;  // symbols to favour
  // TagCache directory; empty: no cache. Default: $XDG_CACHE_HOME/dsagent/repomap.
  std::filesystem::path cache_dir = DefaultRepoMapCacheDir();
  int threads = 0;  // extraction workers; <= 0: the hardware's, at most 8
  CancelToken cancel;

  static std::filesystem::path DefaultRepoMapCacheDir();
};

struct RepoMap {
  std::string text;  // the map; empty when nothing was found to show
  size_t tokens_estimate = 0;
  size_t definitions_shown = 0;
  size_t definitions_ranked = 0;  // candidates outside the focus files
  size_t files_mapped = 0;        // source files with tags
  size_t files_parsed = 0;        // parsed in this call (cache misses)
  size_t files_from_cache = 0;
  size_t other_files = 0;                      // files in languages the map does not know
  std::vector<repomap::SkippedFile> skipped;   // with the reason
  std::vector<repomap::SkippedFile> warnings;  // used with a caveat
  std::vector<std::string> notes;              // e.g. "focus path x matched no mapped file"
  bool cancelled = false;
};

// Error: the workspace is not a directory, or a focus path lies outside it (message for a user or
// model). Never throws. Thread-safe (concurrent calls share only the on-disk cache).
Expected<RepoMap, std::string> BuildRepoMap(const RepoMapOptions& options);

// The map captured once at session start, for the prompt right after the static prefix: a one-line
// heading and the map of `workspace` within `max_tokens` (no focus: the whole repository's shape),
// or "" when there is nothing to show or the map fails (a session never fails for want of a map).
// Frozen for the session by the caller: later maps go into new messages, never into this one.
// A map not finished within `time_limit` (a home directory, a huge monorepo on a cold cache) or
// cancelled through `cancel` gives "" rather than a partial map, whose content would depend on
// timing and so break the byte-stable prefix across sessions.
std::string RenderSessionRepoMap(const std::filesystem::path& workspace,
                                 size_t max_tokens = kDefaultRepoMapTokens,
                                 std::chrono::milliseconds time_limit = std::chrono::seconds(20),
                                 const CancelToken& cancel = CancelToken());

// One line summarising what the map skipped ("skipped 2 files: a.py (binary), ..."), "" if none;
// at most `max_listed` files are named.
std::string SkippedSummary(const RepoMap& map, size_t max_listed = 5);

}  // namespace dsagent
