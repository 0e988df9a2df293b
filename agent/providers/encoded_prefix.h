// Incremental request encoding: the serialised messages a wire format last sent, kept so that the
// next body built from the same MessageList (grown by a tail) serialises only that tail. A body is
// then the cached bytes plus a few small fields, so the encoding work of a step depends on what is
// new, not on how long the session is. The bytes are exactly what serialising the whole body at
// once gives (canonical JSON sorts keys, so the messages array sits between the keys before and
// after it); tests/agent/providers/incremental_encoding_test.cc holds every format to that.
//
// The cached bytes live in append-only blocks that never move once written, and a body refers to
// them instead of copying them (wire_body.h): at 1M tokens the prefix is megabytes, and copying it
// into a fresh buffer each step was the largest per-step cost of the harness.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/providers/wire_body.h"
#include "common/json.h"

namespace dsagent {

// The wire elements already serialised for a prefix of one MessageList's storage.
class EncodedPrefix {
 public:
  uint64_t storage_id = 0;  // MessageList::storage_id() of the list encoded; 0 = nothing cached
  size_t messages = 0;      // source messages covered by the elements

  // Whether the cache can continue `list_storage_id` holding `list_size` messages; when not, it
  // is cleared (a compacted or unrelated conversation starts again from nothing). Bodies built
  // before keep the old bytes alive as long as they need them.
  bool ContinueOrReset(uint64_t list_storage_id, size_t list_size);
  // Appends one serialised element.
  void Append(std::string_view element);

  // Length of the elements, comma-separated, in bytes.
  size_t bytes() const { return bytes_; }
  // Appends the elements, comma-separated and without brackets, to `body` without copying them.
  // Later Appends do not change what `body` holds.
  void AppendTo(WireBody& body) const;

 private:
  struct Block;
  std::vector<std::shared_ptr<Block>> blocks_;
  size_t bytes_ = 0;
};

// The CanonicalJson of `object` with `key` (which `object` must not hold) set to the array whose
// elements are `elements` followed by the serialised `more` (either may be empty), as pieces that
// share the cached elements' storage.
WireBody CanonicalJsonWithArray(const Json& object, std::string_view key,
                                const EncodedPrefix& elements, std::string_view more = {});

// CanonicalJsonWithArray for a wire format whose body fields (model, limits, the tool schemas)
// rarely change: their serialised bytes are kept and reused while the fields compare equal. The
// tool schemas are kilobytes and the same every step; serialising them again was, once the
// messages were cached, the largest part of building a body (about half a million instructions a
// step). Not thread-safe (the wire formats hold it under their lock).
class EncodedFields {
 public:
  // The same bytes as CanonicalJsonWithArray(object, key, elements, more).
  WireBody Build(const Json& object, std::string_view key, const EncodedPrefix& elements,
                 std::string_view more = {});

 private:
  Json object_;  // the fields last serialised
  std::string key_;
  std::shared_ptr<const std::string> before_;  // through `"key":[`; null: nothing kept
  std::shared_ptr<const std::string> after_;   // after the array's `]`
};

}  // namespace dsagent
