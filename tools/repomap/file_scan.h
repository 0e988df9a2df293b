// ScanWorkspace: finds the workspace's source files (respecting .gitignore through the tools'
// WorkspaceWalker) and extracts their tags in parallel, reading unchanged files from the TagCache.
// Files that cannot be used are skipped with a note rather than failing the map.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "tools/repomap/language.h"
#include "tools/repomap/tag.h"

namespace dsagent::repomap {

struct ScanOptions {
  std::filesystem::path workspace;      // absolute, canonical
  std::filesystem::path cache_dir;      // TagCache directory; empty: no cache
  int threads = 0;                      // extraction workers; <= 0: the hardware's, at most 8
  size_t max_file_bytes = 1024 * 1024;  // larger files are skipped ("too large")
  uint64_t parse_timeout_ms = 5000;     // per file
  CancelToken cancel;                   // stops the scan early (files not reached are left out)
};

struct ScannedFile {
  std::string path;  // relative to the workspace, '/'-separated
  const Language* language = nullptr;
  FileTags tags;
};

struct SkippedFile {
  std::string path;
  // "binary", "too large (N bytes)", "generated", "no grammar built for X",
  // "unreadable: ...", or the extractor's reason ("syntax errors and no definitions found ...").
  std::string reason;
};

struct ScanResult {
  std::vector<ScannedFile> files;    // sorted by path
  std::vector<SkippedFile> skipped;  // sorted by path
  // Files used with a caveat, sorted by path: "invalid UTF-8 replaced by U+FFFD".
  std::vector<SkippedFile> warnings;
  size_t other_files = 0;   // files in languages the repo map does not know
  size_t files_parsed = 0;  // parsed now (cache misses)
  size_t files_from_cache = 0;
  size_t bytes_parsed = 0;
  bool cancelled = false;
};

// Never throws; problems with single files become SkippedFile entries. Thread-safe (each call
// uses its own walker and workers).
ScanResult ScanWorkspace(const ScanOptions& options);

// True when the file looks machine-generated: a well-known generated name (*.min.js, *.pb.cc,
// *_pb2.py, ...) or a "generated"/"DO NOT EDIT" marker in its first lines. Exposed for tests.
bool LooksGenerated(const std::string& relative_path, std::string_view content);

}  // namespace dsagent::repomap
