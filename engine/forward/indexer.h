// The lightning indexer of CSA (ratio 4) layers (reference Indexer): scores every visible
// compressed entry c for a query token t as sum_h w_h * relu(q_h . K_c) (bf16 arithmetic) with
// FP4-simulated, Hadamard-rotated queries and keys, and keeps the top-k entries (descending score,
// ties to the lower entry — a stable sort). The scores and the top-k are Ops::IndexerScores and
// Ops::StableTopK.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/forward/model_weights.h"
#include "engine/forward/rope.h"
#include "engine/forward/sequence_state.h"
#include "engine/forward/compute.h"

namespace dsagent::engine::forward {

struct IndexerArgs {
  int64_t start = 0;          // position of the first token
  const float* x = nullptr;   // [rows, dim] the attention input (bf16 values)
  const float* qr = nullptr;  // [rows, q_lora_rank] the normalised low-rank query
  int64_t rows = 0;
  // The reference's start_pos == 0 (prefill) layout: every row gets min(topk, rows / 4) slots,
  // entries not yet visible to the row become -1. Otherwise each row lists only its visible top-k.
  bool prefill_layout = false;
};

// Advances the indexer's compressor (appending keys to state.index_keys) and returns, per row,
// the selected entry indices in the reference's order (-1 = masked).
std::vector<std::vector<int32_t>> SelectEntries(const IndexerWeights& w, const ModelConfig& config,
                                                const Rope& rope, const IndexerArgs& args,
                                                LayerState& state, const Compute& cx);

}  // namespace dsagent::engine::forward
