#include "engine/kv/kv_accounting.h"

#include "common/name_table.h"

namespace dsagent::engine::kv {
namespace {

constexpr EnumName<KvLayout> kKvLayoutNames[] = {{KvLayout::kReference, "reference"},
                                                 {KvLayout::kServingFp8, "serving_fp8"},
                                                 {KvLayout::kPacked, "packed"}};

// One main KV entry (head_dim values, the last rope_dim of them RoPE dims).
int64_t MainEntryBytes(const ModelConfig& c, KvLayout layout) {
  const int64_t nope = c.head_dim - c.rope_head_dim, rope = c.rope_head_dim;
  switch (layout) {
    case KvLayout::kReference:
      return c.head_dim * 2;
    case KvLayout::kServingFp8:
      return nope + rope * 2 + nope / 64 + 1;
    case KvLayout::kPacked:
      return nope + rope * 2 + (nope + 63) / 64;
  }
  return 0;
}

// One indexer key (index_head_dim values).
int64_t IndexEntryBytes(const ModelConfig& c, KvLayout layout) {
  const int64_t d = c.index_head_dim;
  switch (layout) {
    case KvLayout::kReference:
      return d * 2;
    case KvLayout::kServingFp8:
      return d + 4;
    case KvLayout::kPacked:
      return d / 2 + (d + 31) / 32;
  }
  return 0;
}

int64_t CompressorStateBytes(int ratio, int64_t width) {
  const int64_t coff = ratio == 4 ? 2 : 1;
  return coff * ratio * coff * width * 2 * 4;  // kv + score, fp32
}

}  // namespace

std::string KvLayoutName(KvLayout layout) { return std::string(NameOf(kKvLayoutNames, layout)); }

int64_t KvFootprint::bytes_for(int64_t tokens) const {
  int64_t total = fixed_bytes();
  for (int r : ratios) {
    if (r == 0) continue;
    const int64_t entries = tokens / r;
    total += entries * (main_entry_bytes + (r == 4 ? index_entry_bytes : 0));
  }
  return total;
}

KvFootprint ComputeKvFootprint(const ModelConfig& c, KvLayout layout) {
  KvFootprint f;
  f.main_entry_bytes = MainEntryBytes(c, layout);
  f.index_entry_bytes = IndexEntryBytes(c, layout);
  f.mtp_layers = c.n_mtp_layers;
  for (int i = 0; i < c.n_blocks(); ++i) {
    const int r = c.compress_ratios[static_cast<size_t>(i)];
    const bool mtp = i >= c.n_layers;
    f.window_bytes += c.window_size * f.main_entry_bytes;
    if (r > 0) {
      f.compressor_state_bytes += CompressorStateBytes(r, c.head_dim);
      if (r == 4) f.compressor_state_bytes += CompressorStateBytes(r, c.index_head_dim);
    }
    if (mtp) continue;  // MTP blocks' compressed entries (if any) are not counted per token
    f.ratios.push_back(r);
    if (r == 0) {
      f.window_only_layers += 1;
    } else {
      if (r == 4)
        f.csa_layers += 1;
      else
        f.hca_layers += 1;
      f.bytes_per_token += static_cast<double>(f.main_entry_bytes) / r;
      if (r == 4) f.bytes_per_token += static_cast<double>(f.index_entry_bytes) / r;
    }
  }
  return f;
}

}  // namespace dsagent::engine::kv
