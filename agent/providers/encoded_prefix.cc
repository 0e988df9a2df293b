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

namespace {

// The CanonicalJson of `object` with `key` set to an array, split around the array's elements:
// `before` ends with `"key":[`, `after` starts with the `]`'s successor (`,"next":...}` or `}`).
struct Around {
  std::string before;
  std::string after;
};

Around SerialiseAround(const Json& object, std::string_view key) {
  // nlohmann::json iterates object keys in sorted order, as dump() writes them.
  Around a;
  a.before = "{";
  std::string* out = &a.before;
  bool first = true;
  bool placed = false;
  const auto separate = [&] {
    if (!first) out->push_back(',');
    first = false;
  };
  const auto place_array = [&] {
    separate();
    a.before += CanonicalJson(Json(std::string(key)));
    a.before += ":[";
    out = &a.after;
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
  return a;
}

// before, the elements, `more`, "]", after.
WireBody Assemble(WireBody body, const EncodedPrefix& elements, std::string_view more,
                  const std::shared_ptr<const std::string>& after) {
  elements.AppendTo(body);
  std::string close;
  if (elements.bytes() != 0 && !more.empty()) close.push_back(',');
  close.append(more);
  close.push_back(']');
  body.Append(std::move(close));
  body.AppendShared(after, *after);
  return body;
}

}  // namespace

WireBody CanonicalJsonWithArray(const Json& object, std::string_view key,
                                const EncodedPrefix& elements, std::string_view more) {
  Around a = SerialiseAround(object, key);
  WireBody body;
  body.Append(std::move(a.before));
  return Assemble(std::move(body), elements, more,
                  std::make_shared<const std::string>(std::move(a.after)));
}

WireBody EncodedFields::Build(const Json& object, std::string_view key,
                              const EncodedPrefix& elements, std::string_view more) {
  if (before_ == nullptr || key != key_ || object != object_) {
    Around a = SerialiseAround(object, key);
    object_ = object;
    key_ = std::string(key);
    before_ = std::make_shared<const std::string>(std::move(a.before));
    after_ = std::make_shared<const std::string>(std::move(a.after));
  }
  WireBody body;
  body.AppendShared(before_, *before_);
  return Assemble(std::move(body), elements, more, after_);
}

}  // namespace dsagent
