// Incremental request encoding: the serialised messages a wire format last sent, kept so that the
// next body built from the same MessageList (grown by a tail) serialises only that tail. A body is
// then the cached bytes plus a few small fields, so the encoding work of a step depends on what is
// new, not on how long the session is. The bytes are exactly what serialising the whole body at
// once gives (canonical JSON sorts keys, so the messages array sits between the keys before and
// after it); tests/agent/providers/incremental_encoding_test.cc holds every format to that.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"

namespace dsagent {

// The wire elements already serialised for a prefix of one MessageList's storage.
struct EncodedPrefix {
  uint64_t storage_id = 0;  // MessageList::storage_id() of the list encoded; 0 = nothing cached
  size_t messages = 0;      // source messages covered by `elements`
  std::string elements;     // their wire elements, comma-separated, without brackets

  // Whether the cache can continue `list_storage_id` holding `list_size` messages; when not, it
  // is cleared (a compacted or unrelated conversation starts again from nothing).
  bool ContinueOrReset(uint64_t list_storage_id, size_t list_size);
  // Appends one serialised element.
  void Append(std::string_view element);
};

// CanonicalJson of `object` with `key` (which `object` must not hold) set to the array whose
// elements are the serialised, comma-separated `elements` followed by `more` (either may be empty).
std::string CanonicalJsonWithArray(const Json& object, std::string_view key,
                                   std::string_view elements, std::string_view more = {});

}  // namespace dsagent
