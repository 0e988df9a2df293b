#include "tools/repomap/tag_extractor.h"

#include <tree_sitter/api.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "common/utf8.h"

namespace dsagent::repomap {
namespace {

enum class CaptureRole { kName, kDefinition, kReference, kScope, kExclude, kIgnored };

struct CaptureInfo {
  CaptureRole role = CaptureRole::kIgnored;
  std::string kind;  // after "definition." / "reference."
};

struct CompiledQuery {
  TSQuery* query = nullptr;  // owned; immutable after compilation, so shared by all threads
  std::vector<CaptureInfo> captures;
  std::string error;
};

CaptureInfo ParseCaptureName(std::string_view name) {
  if (name == "name") return {CaptureRole::kName, ""};
  if (name == "scope") return {CaptureRole::kScope, ""};
  if (name == "exclude") return {CaptureRole::kExclude, ""};
  constexpr std::string_view kDef = "definition.", kRef = "reference.";
  if (name.substr(0, kDef.size()) == kDef) {
    return {CaptureRole::kDefinition, std::string(name.substr(kDef.size()))};
  }
  if (name.substr(0, kRef.size()) == kRef) {
    return {CaptureRole::kReference, std::string(name.substr(kRef.size()))};
  }
  return {};
}

const char* QueryErrorName(TSQueryError e) {
  switch (e) {
    case TSQueryErrorSyntax:
      return "syntax error";
    case TSQueryErrorNodeType:
      return "unknown node type";
    case TSQueryErrorField:
      return "unknown field";
    case TSQueryErrorCapture:
      return "unknown capture";
    case TSQueryErrorStructure:
      return "impossible pattern";
    case TSQueryErrorLanguage:
      return "incompatible language";
    default:
      return "error";
  }
}

// Compiled once per language for the life of the process (queries are small; never freed). The
// cache itself is never destroyed either, so the queries stay reachable until exit (a static map
// would be destroyed at exit and leave them unreferenced, which LeakSanitizer reports) and no
// thread still scanning at exit can see them go.
const CompiledQuery& QueryFor(const Language& language) {
  static std::mutex mu;
  static auto* const cache = new std::map<const Language*, CompiledQuery>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(&language);
  if (it != cache->end()) return it->second;
  CompiledQuery& q = (*cache)[&language];
  const std::string_view source = TagsQuerySource(language);
  if (language.grammar == nullptr) {
    q.error = "no grammar built for " + language.name + " (run scripts/setup.sh and rebuild)";
  } else if (source.empty()) {
    q.error = "no tags query for " + language.name;
  } else {
    uint32_t error_offset = 0;
    TSQueryError error_type = TSQueryErrorNone;
    q.query = ts_query_new(language.grammar, source.data(), static_cast<uint32_t>(source.size()),
                           &error_offset, &error_type);
    if (q.query == nullptr) {
      q.error = "tags query " + language.query_name + ".scm: " + QueryErrorName(error_type) +
                " at byte " + std::to_string(error_offset);
    } else {
      const uint32_t n = ts_query_capture_count(q.query);
      for (uint32_t i = 0; i < n; ++i) {
        uint32_t len = 0;
        const char* name = ts_query_capture_name_for_id(q.query, i, &len);
        q.captures.push_back(ParseCaptureName(std::string_view(name, len)));
      }
    }
  }
  return q;
}

// One captured name before de-duplication.
struct RawTag {
  uint32_t name_byte = 0;
  uint32_t pattern = 0;
  Tag tag;
  uint32_t start_byte = 0, end_byte = 0;  // of the defining node
};

struct Container {
  uint32_t start_byte, end_byte;
  bool makes_methods;  // class-like definitions and @scope blocks
};

bool IsClassLike(const std::string& kind) {
  return kind == "class" || kind == "struct" || kind == "union" || kind == "interface" ||
         kind == "trait";
}

std::string NodeText(std::string_view content, TSNode node) {
  const uint32_t start = ts_node_start_byte(node), end = ts_node_end_byte(node);
  if (start >= end || end > content.size()) return "";
  return SanitizeUtf8(content.substr(start, end - start));
}

}  // namespace

struct TagExtractor::Impl {
  TSParser* parser = ts_parser_new();
  TSQueryCursor* cursor = ts_query_cursor_new();
  ~Impl() {
    ts_query_cursor_delete(cursor);
    ts_parser_delete(parser);
  }
};

TagExtractor::TagExtractor() : impl_(std::make_unique<Impl>()) {}
TagExtractor::~TagExtractor() = default;

Expected<Ok, std::string> CheckTagsQuery(const Language& language) {
  const CompiledQuery& q = QueryFor(language);
  if (q.query == nullptr) return MakeUnexpected(q.error);
  return Ok{};
}

Expected<FileTags, std::string> TagExtractor::Extract(const Language& language,
                                                      std::string_view content,
                                                      uint64_t timeout_ms) {
  const CompiledQuery& q = QueryFor(language);
  if (q.query == nullptr) return MakeUnexpected(q.error);
  if (!ts_parser_set_language(impl_->parser, language.grammar)) {
    return MakeUnexpected("grammar " + language.name + " has an incompatible tree-sitter ABI");
  }
  ts_parser_set_timeout_micros(impl_->parser, timeout_ms * 1000);
  TSTree* tree = ts_parser_parse_string(impl_->parser, nullptr, content.data(),
                                        static_cast<uint32_t>(content.size()));
  if (tree == nullptr) {
    ts_parser_reset(impl_->parser);
    return MakeUnexpected("parse timed out after " + std::to_string(timeout_ms) + " ms");
  }
  const TSNode root = ts_tree_root_node(tree);
  FileTags out;
  out.parse_errors = ts_node_has_error(root);

  std::vector<RawTag> raw;
  std::vector<Container> containers;
  std::vector<std::pair<uint32_t, uint32_t>> excluded;  // byte ranges of @exclude captures
  ts_query_cursor_exec(impl_->cursor, q.query, root);
  TSQueryMatch match;
  while (ts_query_cursor_next_match(impl_->cursor, &match)) {
    const TSNode* name_node = nullptr;
    const TSNode* def_node = nullptr;
    const CaptureInfo* def_info = nullptr;
    for (uint16_t i = 0; i < match.capture_count; ++i) {
      const TSQueryCapture& c = match.captures[i];
      const CaptureInfo& info = q.captures[c.index];
      switch (info.role) {
        case CaptureRole::kName:
          name_node = &c.node;
          break;
        case CaptureRole::kDefinition:
          def_node = &c.node;
          def_info = &info;
          break;
        case CaptureRole::kScope:
          containers.push_back({ts_node_start_byte(c.node), ts_node_end_byte(c.node), true});
          out.scopes.push_back(
              {ts_node_start_point(c.node).row + 1, ts_node_end_point(c.node).row + 1});
          break;
        case CaptureRole::kExclude:
          excluded.emplace_back(ts_node_start_byte(c.node), ts_node_end_byte(c.node));
          break;
        case CaptureRole::kReference: {
          RawTag r;
          r.name_byte = ts_node_start_byte(c.node);
          r.pattern = match.pattern_index;
          r.tag.name = NodeText(content, c.node);
          r.tag.role = TagRole::kReference;
          r.tag.kind = info.kind;
          const TSPoint p = ts_node_start_point(c.node);
          r.tag.line = r.tag.start_line = r.tag.end_line = p.row + 1;
          r.tag.column = p.column + 1;
          if (!r.tag.name.empty()) raw.push_back(std::move(r));
          break;
        }
        case CaptureRole::kIgnored:
          break;
      }
    }
    if (name_node != nullptr && def_node != nullptr) {
      RawTag r;
      r.name_byte = ts_node_start_byte(*name_node);
      r.pattern = match.pattern_index;
      r.tag.name = NodeText(content, *name_node);
      r.tag.role = TagRole::kDefinition;
      r.tag.kind = def_info->kind;
      const TSPoint p = ts_node_start_point(*name_node);
      r.tag.line = p.row + 1;
      r.tag.column = p.column + 1;
      r.tag.start_line = ts_node_start_point(*def_node).row + 1;
      r.tag.end_line = ts_node_end_point(*def_node).row + 1;
      r.start_byte = ts_node_start_byte(*def_node);
      r.end_byte = ts_node_end_byte(*def_node);
      if (!r.tag.name.empty()) raw.push_back(std::move(r));
    }
  }
  ts_tree_delete(tree);

  // Definitions inside an @exclude block (a C++ function body, where `std::string out(s);` parses
  // as a function declaration) are local: dropped. References there stay.
  if (!excluded.empty()) {
    std::sort(excluded.begin(), excluded.end());
    std::erase_if(raw, [&](const RawTag& r) {
      if (r.tag.role != TagRole::kDefinition) return false;
      auto it = std::upper_bound(excluded.begin(), excluded.end(),
                                 std::make_pair(r.name_byte, UINT32_MAX));
      return it != excluded.begin() && std::prev(it)->second > r.name_byte;
    });
  }

  // One tag per name node: the earliest pattern in the query file decides.
  std::sort(raw.begin(), raw.end(), [](const RawTag& a, const RawTag& b) {
    return std::tie(a.name_byte, a.pattern) < std::tie(b.name_byte, b.pattern);
  });
  raw.erase(
      std::unique(raw.begin(), raw.end(),
                  [](const RawTag& a, const RawTag& b) { return a.name_byte == b.name_byte; }),
      raw.end());

  // Functions directly framed by a class-like definition or a scope block become methods.
  for (const RawTag& r : raw) {
    if (r.tag.role == TagRole::kDefinition) {
      containers.push_back({r.start_byte, r.end_byte, IsClassLike(r.tag.kind)});
    }
  }
  std::sort(containers.begin(), containers.end(), [](const Container& a, const Container& b) {
    return a.start_byte != b.start_byte ? a.start_byte < b.start_byte : a.end_byte > b.end_byte;
  });
  for (RawTag& r : raw) {
    if (r.tag.role != TagRole::kDefinition || r.tag.kind != "function") continue;
    // The innermost container strictly enclosing this definition (containers are few per file).
    const Container* inner = nullptr;
    for (const Container& c : containers) {
      if (c.start_byte > r.start_byte) break;
      const bool same = c.start_byte == r.start_byte && c.end_byte == r.end_byte;
      if (!same && c.end_byte >= r.end_byte) inner = &c;
    }
    if (inner != nullptr && inner->makes_methods) r.tag.kind = "method";
  }

  size_t definitions = 0;
  out.tags.reserve(raw.size());
  for (RawTag& r : raw) {
    definitions += r.tag.role == TagRole::kDefinition;
    out.tags.push_back(std::move(r.tag));
  }
  std::sort(out.scopes.begin(), out.scopes.end(), [](const LineRange& a, const LineRange& b) {
    return std::tie(a.start_line, a.end_line) < std::tie(b.start_line, b.end_line);
  });
  if (out.parse_errors && definitions == 0) {
    return MakeUnexpected(std::string("syntax errors and no definitions found (unparseable)"));
  }
  return out;
}

}  // namespace dsagent::repomap
