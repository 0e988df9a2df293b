// SequenceState: everything one sequence carries between forward calls — the sliding-window KV
// ring, the compressed KV entries, the indexer keys and the compressors' partial blocks of every
// layer — so that one prefill followed by single-token decodes computes what one longer prefill
// computes. Plain contiguous buffers only (bf16 bits or fp32), so the state can be copied,
// snapshotted and serialised as is (issue 4: persistent KV cache).
//
// Not thread-safe: one forward call at a time per state.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"

namespace dsagent::engine::forward {

// A compressor's state machine (reference Compressor.kv_state / score_state): projected values
// and gate logits (position bias included) of the tokens of the current incomplete block at slot
// offset + pos % ratio; overlapping compressors (ratio 4) also keep the previous complete block in
// slots [0, ratio) and offset = ratio. fp32 [slots, width]; empty slots hold value 0, logit -inf.
struct CompressorState {
  int64_t slots = 0, width = 0;
  std::vector<float> kv, score;
  // Transient, for taking back the last row of a forward call (Model::TakeBackLastRow): while
  // keep_before_pool is set, a block pooled by the call's last row leaves the slots as they were
  // just before the pooling here. Set and cleared within one Model::Forward; not serialised.
  bool keep_before_pool = false;
  std::vector<float> kv_before_pool, score_before_pool;
};

struct LayerState {
  int ratio = 0;
  int64_t head_dim = 0, index_head_dim = 0;
  // The last rope_dims of each window / compressed row are bf16 RoPE dims; the others went through
  // FP8 quantisation (index keys: FP4, all dims). Set from the config; kv/ packs rows by it.
  int64_t rope_dims = 0;
  // KV of position p at slot p % window_size: [window_size, head_dim], bf16 bits.
  std::vector<uint16_t> window;
  // Compressed KV entries, entry c covering positions [c*ratio, (c+1)*ratio): [n, head_dim].
  std::vector<uint16_t> compressed;
  // Indexer keys of the same entries (ratio 4 only): [n, index_head_dim].
  std::vector<uint16_t> index_keys;
  CompressorState kv_compressor, index_compressor;

  int64_t compressed_entries() const {
    return head_dim ? static_cast<int64_t>(compressed.size()) / head_dim : 0;
  }
};

struct SequenceState {
  int64_t pos = 0;                 // tokens the main layers have processed
  std::vector<LayerState> layers;  // one per decoder layer
  int64_t mtp_pos = 0;             // tokens the MTP blocks have processed
  std::vector<LayerState> mtp;     // one per MTP block
};

// An empty state for `config` (position 0).
SequenceState NewSequenceState(const ModelConfig& config);

}  // namespace dsagent::engine::forward
