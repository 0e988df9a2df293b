// KV accounting: how many bytes one sequence's decode state takes for a config, as a part that
// grows with every token of context and a fixed part per sequence, in three layouts:
//   - reference: the official model.py's buffers (bf16 window / compressed KV / indexer keys,
//     fp32 compressor partial state). Our SequenceState stores exactly this, so it is also what a
//     resident sequence costs in memory here;
//   - serving_fp8: vLLM's "fp8_ds_mla" entries (584 B: 448 B e4m3 + 64 bf16 RoPE dims + 7 UE8M0
//     scales + 1 pad; indexer 128 B e4m3 + 4 B fp32 scale);
//   - packed: the minimal lossless re-encoding of the reference values (583 B per main entry:
//     e4m3 non-RoPE dims with one power-of-two scale per 64, bf16 RoPE dims; indexer keys FP4
//     e2m1 with one scale per 32 = 64 + 4 B).
// ../shared/reference/v4-kv-cache.md §2 derives these numbers for Flash and Pro; the tests check
// that this code reproduces them. Pure functions of the config; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_config.h"

namespace dsagent::engine::kv {

enum class KvLayout { kReference, kServingFp8, kPacked };

// "reference" | "serving_fp8" | "packed".
std::string KvLayoutName(KvLayout layout);

struct KvFootprint {
  // Bytes added per token of context (compressed KV + indexer keys, all layers; fractional
  // because a ratio-r layer adds one entry every r tokens).
  double bytes_per_token = 0;
  // Fixed bytes per sequence, independent of its length: the sliding-window ring of every layer
  // (MTP blocks included) and the compressors' partial state (fp32 in every layout).
  int64_t window_bytes = 0;
  int64_t compressor_state_bytes = 0;
  int64_t fixed_bytes() const { return window_bytes + compressor_state_bytes; }
  // Total for a sequence of `tokens` tokens (entries counted exactly: floor(tokens / ratio)).
  int64_t bytes_for(int64_t tokens) const;

  // Per-entry sizes the figures come from.
  int64_t main_entry_bytes = 0;   // one window slot or compressed entry
  int64_t index_entry_bytes = 0;  // one indexer key
  // Layer counts by kind (decoder layers only) and MTP blocks.
  int csa_layers = 0, hca_layers = 0, window_only_layers = 0, mtp_layers = 0;

  // Kept to compute bytes_for exactly.
  std::vector<int> ratios;  // decoder layers
};

// The footprint of `config` in `layout`. The window holds window_size slots per layer; the
// compressor state of a ratio-r layer is (2 if r == 4 else 1) * r slots of kv and gate logits,
// (2 if r == 4 else 1) * head_dim wide, fp32, plus the same for the indexer at index_head_dim.
KvFootprint ComputeKvFootprint(const ModelConfig& config, KvLayout layout);

}  // namespace dsagent::engine::kv
