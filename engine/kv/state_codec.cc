#include "engine/kv/state_codec.h"

#include <bit>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

#include "engine/kv/packed_values.h"

namespace dsagent::engine::kv {
namespace {
using forward::CompressorState;
using forward::LayerState;
using forward::SequenceState;

static_assert(std::endian::native == std::endian::little, "the KV format is little-endian");

constexpr uint32_t kSnapshotTag = 0x534b5344;    // "DSKS"
constexpr uint32_t kCheckpointTag = 0x434b5344;  // "DSKC"
constexpr uint32_t kBlockTag = 0x424b5344;       // "DSKB"
// 2: window rows, compressed entries and indexer keys packed to their FP8 / FP4 precisions where
// that is lossless (packed_values.h). (1 stored them plain; its records are no longer read.)
constexpr uint32_t kFormat = 2;

class Writer {
 public:
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  template <typename T>
  void PutArray(const T* data, size_t n) {
    Put<uint64_t>(n);
    out_.append(reinterpret_cast<const char*>(data), n * sizeof(T));
  }
  template <typename T>
  void PutVector(const std::vector<T>& v) {
    PutArray(v.data(), v.size());
  }
  // Rows of bf16 values: a mode byte, then packed bytes (mode 1) or the plain array (mode 0).
  void PutRows(const RowLayout& layout, const uint16_t* data, size_t n) {
    if (auto packed = PackRows(layout, std::span(data, n))) {
      Put<uint8_t>(1);
      PutArray(packed->data(), packed->size());
      return;
    }
    Put<uint8_t>(0);
    PutArray(data, n);
  }
  void PutRows(const RowLayout& layout, const std::vector<uint16_t>& v) {
    PutRows(layout, v.data(), v.size());
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T& v) {
    if (in_.size() - at_ < sizeof v) return false;
    std::memcpy(&v, in_.data() + at_, sizeof v);
    at_ += sizeof v;
    return true;
  }
  // Reads a length-prefixed array of exactly `expected` elements (appended to `v`).
  template <typename T>
  bool GetArray(std::vector<T>& v, uint64_t expected) {
    uint64_t n = 0;
    if (!Get(n) || n != expected || (in_.size() - at_) / sizeof(T) < n) return false;
    const size_t old = v.size();
    v.resize(old + n);
    // memcpy with a null pointer is undefined even for 0 bytes, and an empty vector's data() may
    // be null (UBSan found an empty array read into an empty vector here).
    if (n > 0) std::memcpy(v.data() + old, in_.data() + at_, n * sizeof(T));
    at_ += n * sizeof(T);
    return true;
  }
  // PutRows' counterpart: exactly `expected` values (a whole number of rows) appended to `v`.
  bool GetRows(const RowLayout& layout, std::vector<uint16_t>& v, uint64_t expected) {
    uint8_t mode = 0;
    if (!Get(mode)) return false;
    if (mode == 0) return GetArray(v, expected);
    uint64_t bytes = 0;
    if (mode != 1 || !Get(bytes) || in_.size() - at_ < bytes) return false;
    const auto width = static_cast<uint64_t>(layout.width);
    if (width == 0 || expected % width != 0) return false;
    const size_t old = v.size();
    v.resize(old + expected);
    if (!UnpackRows(layout, in_.substr(at_, bytes), static_cast<int64_t>(expected / width),
                    v.data() + old)) {
      return false;
    }
    at_ += bytes;
    return true;
  }
  bool done() const { return at_ == in_.size(); }

 private:
  std::string_view in_;
  size_t at_ = 0;
};

void PutCompressor(Writer& w, const CompressorState& s) {
  w.Put<int64_t>(s.slots);
  w.Put<int64_t>(s.width);
  w.PutVector(s.kv);
  w.PutVector(s.score);
}

bool GetCompressor(Reader& r, CompressorState& s) {
  int64_t slots = 0, width = 0;
  if (!r.Get(slots) || !r.Get(width) || slots != s.slots || width != s.width) return false;
  const auto n = static_cast<uint64_t>(slots * width);
  s.kv.clear();
  s.score.clear();
  return r.GetArray(s.kv, n) && r.GetArray(s.score, n);
}

RowLayout MainRows(const LayerState& l) { return Fp8RowLayout(l.head_dim, l.rope_dims); }
RowLayout IndexRows(const LayerState& l) { return Fp4RowLayout(l.index_head_dim); }

// One layer: shape, window, (entries when `with_entries`), compressor states.
void PutLayer(Writer& w, const LayerState& l, bool with_entries) {
  w.Put<int32_t>(l.ratio);
  w.Put<int64_t>(l.head_dim);
  w.Put<int64_t>(l.index_head_dim);
  w.PutRows(MainRows(l), l.window);
  if (with_entries) {
    w.PutRows(MainRows(l), l.compressed);
    w.PutRows(IndexRows(l), l.index_keys);
  }
  PutCompressor(w, l.kv_compressor);
  PutCompressor(w, l.index_compressor);
}

// Reads into `l` (shaped by NewSequenceState); `pos` is the layer's position, for the entry count.
std::string GetLayer(Reader& r, LayerState& l, bool with_entries, int64_t pos,
                     const std::string& name) {
  int32_t ratio = 0;
  int64_t head_dim = 0, index_head_dim = 0;
  if (!r.Get(ratio) || !r.Get(head_dim) || !r.Get(index_head_dim)) return name + ": truncated";
  if (ratio != l.ratio || head_dim != l.head_dim || index_head_dim != l.index_head_dim) {
    return name + ": ratio/head_dim do not match the model config";
  }
  const uint64_t window = l.window.size();
  l.window.clear();
  if (!r.GetRows(MainRows(l), l.window, window)) {
    return name + ": window ring size mismatch or truncated";
  }
  if (with_entries) {
    const int64_t entries = l.ratio > 0 ? pos / l.ratio : 0;
    if (!r.GetRows(MainRows(l), l.compressed, static_cast<uint64_t>(entries * l.head_dim))) {
      return name + ": compressed entries mismatch or truncated";
    }
    if (!r.GetRows(IndexRows(l), l.index_keys, static_cast<uint64_t>(entries * l.index_head_dim))) {
      return name + ": indexer keys mismatch or truncated";
    }
  }
  if (!GetCompressor(r, l.kv_compressor)) return name + ": compressor state mismatch";
  if (!GetCompressor(r, l.index_compressor)) return name + ": indexer compressor state mismatch";
  return "";
}

void PutState(Writer& w, const SequenceState& s, uint32_t tag, bool with_main_entries) {
  w.Put<uint32_t>(tag);
  w.Put<uint32_t>(kFormat);
  w.Put<int64_t>(s.pos);
  w.Put<int64_t>(s.mtp_pos);
  w.Put<uint32_t>(static_cast<uint32_t>(s.layers.size()));
  w.Put<uint32_t>(static_cast<uint32_t>(s.mtp.size()));
  for (const auto& l : s.layers) PutLayer(w, l, with_main_entries);
  for (const auto& l : s.mtp) PutLayer(w, l, /*with_entries=*/true);
}

Expected<SequenceState, std::string> GetState(const ModelConfig& c, std::string_view bytes,
                                              uint32_t tag, bool with_main_entries) {
  Reader r(bytes);
  uint32_t got_tag = 0, format = 0, n_layers = 0, n_mtp = 0;
  SequenceState s = forward::NewSequenceState(c);
  if (!r.Get(got_tag) || !r.Get(format)) return MakeUnexpected(std::string("truncated header"));
  if (got_tag != tag) return MakeUnexpected(std::string("not a state of this kind (tag)"));
  if (format != kFormat) {
    return MakeUnexpected("unsupported state format " + std::to_string(format));
  }
  if (!r.Get(s.pos) || !r.Get(s.mtp_pos) || !r.Get(n_layers) || !r.Get(n_mtp)) {
    return MakeUnexpected(std::string("truncated header"));
  }
  if (s.pos < 0 || s.mtp_pos < 0 || n_layers != s.layers.size() || n_mtp != s.mtp.size()) {
    return MakeUnexpected(std::string("position or layer count does not match the model config"));
  }
  for (size_t i = 0; i < s.layers.size(); ++i) {
    if (std::string e =
            GetLayer(r, s.layers[i], with_main_entries, s.pos, "layer " + std::to_string(i));
        !e.empty()) {
      return MakeUnexpected(e);
    }
  }
  for (size_t i = 0; i < s.mtp.size(); ++i) {
    if (std::string e = GetLayer(r, s.mtp[i], true, s.mtp_pos, "mtp " + std::to_string(i));
        !e.empty()) {
      return MakeUnexpected(e);
    }
  }
  if (!r.done()) return MakeUnexpected(std::string("trailing bytes"));
  return s;
}

}  // namespace

int64_t AlignmentTokens(const ModelConfig& config) {
  int64_t a = 128;
  for (int r : config.compress_ratios) {
    if (r > 0) a = std::lcm(a, static_cast<int64_t>(r));
  }
  return a;
}

std::string SerializeState(const SequenceState& state) {
  Writer w;
  PutState(w, state, kSnapshotTag, /*with_main_entries=*/true);
  return w.Take();
}

Expected<SequenceState, std::string> DeserializeState(const ModelConfig& config,
                                                      std::string_view bytes) {
  return GetState(config, bytes, kSnapshotTag, true);
}

std::string EncodeCheckpoint(const SequenceState& state) {
  Writer w;
  PutState(w, state, kCheckpointTag, /*with_main_entries=*/false);
  return w.Take();
}

std::string EncodeBlock(const SequenceState& state, int64_t index, int64_t block_tokens) {
  Writer w;
  w.Put<uint32_t>(kBlockTag);
  w.Put<uint32_t>(kFormat);
  w.Put<int64_t>(index);
  w.Put<int64_t>(block_tokens);
  for (const auto& l : state.layers) {
    if (l.ratio == 0) continue;
    const int64_t per_block = block_tokens / l.ratio, first = index * per_block;
    w.PutRows(MainRows(l), l.compressed.data() + first * l.head_dim,
              static_cast<size_t>(per_block * l.head_dim));
    w.PutRows(IndexRows(l), l.index_keys.data() + first * l.index_head_dim,
              static_cast<size_t>(per_block * l.index_head_dim));
  }
  return w.Take();
}

Expected<SequenceState, std::string> AssembleState(const ModelConfig& config,
                                                   std::span<const std::string> blocks,
                                                   std::string_view checkpoint,
                                                   int64_t block_tokens) {
  auto s = GetState(config, checkpoint, kCheckpointTag, /*with_main_entries=*/false);
  if (!s) return MakeUnexpected("checkpoint: " + s.error());
  if (block_tokens <= 0 || s->pos % block_tokens != 0) {
    return MakeUnexpected(std::string("checkpoint position is not block-aligned"));
  }
  if (static_cast<int64_t>(blocks.size()) != s->pos / block_tokens) {
    return MakeUnexpected(std::string("wrong number of blocks for the checkpoint position"));
  }
  for (size_t k = 0; k < blocks.size(); ++k) {
    Reader r(blocks[k]);
    const std::string name = "block " + std::to_string(k);
    uint32_t tag = 0, format = 0;
    int64_t index = -1, tokens = 0;
    if (!r.Get(tag) || !r.Get(format) || !r.Get(index) || !r.Get(tokens)) {
      return MakeUnexpected(name + ": truncated");
    }
    if (tag != kBlockTag || format != kFormat || index != static_cast<int64_t>(k) ||
        tokens != block_tokens) {
      return MakeUnexpected(name + ": wrong tag, format, index or block size");
    }
    for (auto& l : s->layers) {
      if (l.ratio == 0) continue;
      if (block_tokens % l.ratio != 0) return MakeUnexpected(name + ": ratio does not divide");
      const auto per_block = static_cast<uint64_t>(block_tokens / l.ratio);
      if (!r.GetRows(MainRows(l), l.compressed, per_block * static_cast<uint64_t>(l.head_dim)) ||
          !r.GetRows(IndexRows(l), l.index_keys,
                     per_block * static_cast<uint64_t>(l.index_head_dim))) {
        return MakeUnexpected(name + ": entry count mismatch or truncated");
      }
    }
    if (!r.done()) return MakeUnexpected(name + ": trailing bytes");
  }
  return s;
}

}  // namespace dsagent::engine::kv
