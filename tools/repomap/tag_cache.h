// TagCache: the repo map's on-disk cache of extracted tags, one small JSON file per key, where the
// key hashes the file's content together with its language and tags query (so editing a query
// invalidates exactly that language). Shared by every workspace of the user: the same content is
// parsed once. Entries are never wrong, only missing: a corrupt or unreadable entry is a miss, and
// a failed write just leaves the entry missing.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "tools/repomap/language.h"
#include "tools/repomap/tag.h"

namespace dsagent::repomap {

// Thread-safe: entries are written to unique temporary files and renamed into place.
class TagCache {
 public:
  // Entries live under `dir` (created on first store). An empty path disables the cache.
  explicit TagCache(std::filesystem::path dir);

  // $XDG_CACHE_HOME/dsagent/repomap (~/.cache/dsagent/repomap).
  static std::filesystem::path DefaultDir();

  // The cache key for a file of `language` whose content hashes (SHA-256 hex) to `content_sha256`.
  static std::string Key(const Language& language, std::string_view content_sha256);

  // The stored tags for `key`, or nullopt (absent, unreadable, corrupt, or cache disabled).
  std::optional<FileTags> Load(const std::string& key) const;
  // Stores `tags` under `key`; best effort (errors are ignored: the entry stays missing).
  void Store(const std::string& key, const FileTags& tags) const;

 private:
  std::filesystem::path EntryPath(const std::string& key) const;
  std::filesystem::path dir_;
};

}  // namespace dsagent::repomap
