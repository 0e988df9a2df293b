#include "agent/providers/encoded_prefix.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace dsagent {
namespace {

// Blocks grow with the cache (the block count stays logarithmic in small sessions) up to a size
// past which a bigger block would only cost more when the conversation is reset.
constexpr size_t kMinBlockBytes = 64 * 1024;
constexpr size_t kMaxBlockBytes = 4 * 1024 * 1024;

}  // namespace

// Written only up to `capacity`, never reallocated: bytes below `used` are final, so bodies may
// refer to them while later elements are appended behind them.
struct EncodedPrefix::Block {
  explicit Block(size_t bytes)
      : data(new char[bytes]), capacity(bytes) {}  // not zeroed: untouched
                                                   // pages cost nothing
  std::unique_ptr<char[]> data;
  size_t capacity;
  size_t used = 0;
};

bool EncodedPrefix::ContinueOrReset(uint64_t list_storage_id, size_t list_size) {
  if (storage_id == list_storage_id && messages <= list_size) return true;
  storage_id = list_storage_id;
  messages = 0;
  blocks_.clear();
  bytes_ = 0;
  return false;
}

void EncodedPrefix::Append(std::string_view element) {
  const size_t need = element.size() + (bytes_ == 0 ? 0 : 1);
  if (blocks_.empty() || blocks_.back()->capacity - blocks_.back()->used < need) {
    const size_t grown = std::clamp(bytes_, kMinBlockBytes, kMaxBlockBytes);
    blocks_.push_back(std::make_shared<Block>(std::max(grown, need)));
  }
  Block& block = *blocks_.back();
  char* out = block.data.get() + block.used;
  if (bytes_ != 0) *out++ = ',';
  std::memcpy(out, element.data(), element.size());
  block.used += need;
  bytes_ += need;
}

void EncodedPrefix::AppendTo(WireBody& body) const {
  for (const auto& block : blocks_) {
    body.AppendShared(block, std::string_view(block->data.get(), block->used));
  }
}

WireBody CanonicalJsonWithArray(const Json& object, std::string_view key,
                                const EncodedPrefix& elements, std::string_view more) {
  // head = the fields before `key` and `"key":[`; tail = the rest. nlohmann::json iterates object
  // keys in sorted order, as dump() writes them.
  std::string head = "{";
  std::string tail;
  std::string* out = &head;
  bool first = true;
  bool placed = false;
  const auto separate = [&] {
    if (!first) out->push_back(',');
    first = false;
  };
  const auto place_array = [&] {
    separate();
    head += CanonicalJson(Json(std::string(key)));
    head += ":[";
    out = &tail;
    if (elements.bytes() != 0 && !more.empty()) tail.push_back(',');
    tail.append(more);
    tail.push_back(']');
    placed = true;
  };
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!placed && std::string_view(it.key()) > key) place_array();
    separate();
    *out += CanonicalJson(Json(it.key()));
    out->push_back(':');
    *out += CanonicalJson(it.value());
  }
  if (!placed) place_array();
  out->push_back('}');

  WireBody body;
  body.Append(std::move(head));
  elements.AppendTo(body);
  body.Append(std::move(tail));
  return body;
}

}  // namespace dsagent
