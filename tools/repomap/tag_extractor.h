// TagExtractor: parses one file with tree-sitter and runs its language's tags query, yielding the
// definitions and references the repo map ranks.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/expected.h"
#include "tools/repomap/language.h"
#include "tools/repomap/tag.h"

namespace dsagent::repomap {

// One parser; not thread-safe (use one extractor per thread). The compiled queries are shared by
// all extractors (compiled once per language, on first use, thread-safely).
class TagExtractor {
 public:
  TagExtractor();
  ~TagExtractor();
  TagExtractor(const TagExtractor&) = delete;
  TagExtractor& operator=(const TagExtractor&) = delete;

  // Tags of `content` (the file's bytes) in `language`, sorted by position, one per name node
  // (the first matching query pattern decides its role and kind), references at the position of a
  // definition's name dropped, definitions inside an @exclude capture (local ones) dropped.
  // A function nested in a class, struct, interface, trait or @scope
  // block is reported as a method. Names that are not valid UTF-8 are sanitised (U+FFFD).
  // Error: a one-line reason: no grammar built, the query does not compile for this grammar, the
  // parse timed out (`timeout_ms`), or the file has syntax errors and yields no definitions.
  Expected<FileTags, std::string> Extract(const Language& language, std::string_view content,
                                          uint64_t timeout_ms = 5000);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Compiles `language`'s tags query (cached). Error: the grammar is missing or the query does not
// compile, with tree-sitter's error offset. Used by tests to check every shipped query.
Expected<Ok, std::string> CheckTagsQuery(const Language& language);

}  // namespace dsagent::repomap
