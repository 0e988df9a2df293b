// What the repo map extracts from one source file: named definitions and references ("tags"),
// plus scope blocks that frame nested definitions (e.g. a Rust impl). Plain values; cached on disk.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsagent::repomap {

enum class TagRole { kDefinition, kReference };

struct Tag {
  std::string name;  // the identifier, valid UTF-8
  TagRole role = TagRole::kReference;
  // Definitions: function, method, class, struct, union, enum, interface, trait, type, constant,
  // macro, namespace, module. References: call, type, class, field, macro, namespace, identifier.
  std::string kind;
  uint32_t line = 0;    // 1-based line of the name
  uint32_t column = 0;  // 1-based byte column of the name
  // The defining node's lines, 1-based and inclusive (a function's whole body); line..line for
  // references.
  uint32_t start_line = 0;
  uint32_t end_line = 0;

  bool operator==(const Tag&) const = default;
};

struct LineRange {
  uint32_t start_line = 0;  // 1-based, inclusive
  uint32_t end_line = 0;
  bool operator==(const LineRange&) const = default;
};

// Tags of one file in source order (definitions and references interleaved).
struct FileTags {
  std::vector<Tag> tags;
  std::vector<LineRange> scopes;  // non-definition blocks that frame definitions
  bool parse_errors = false;      // the tree had syntax errors (tags are best effort)
  bool operator==(const FileTags&) const = default;
};

}  // namespace dsagent::repomap
