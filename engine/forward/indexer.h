// The lightning indexer of CSA (ratio 4) layers (reference Indexer): scores every visible
// compressed entry c for a query token t as sum_h w_h * relu(q_h . K_c) (bf16 arithmetic) with
// FP4-simulated, Hadamard-rotated queries and keys, and keeps the top-k entries (descending score,
// ties to the lower entry — a stable sort). The scores and the top-k are Ops::IndexerScores and
// Ops::StableTopK.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/forward/compute.h"
#include "engine/forward/model_weights.h"
#include "engine/forward/rope.h"
#include "engine/forward/sequence_state.h"

namespace dsagent::engine::forward {

// The indexer's row-wise results for rows (IndexerProjections): views, `rows` rows each.
struct IndexerRows {
  const float* q = nullptr;             // [rows, heads * hd] queries: RoPE, Hadamard, FP4
  const float* head_weights = nullptr;  // [rows, heads] bf16, scaled
  const float* kv = nullptr;            // [rows, width] the indexer compressor's projections
  const float* score = nullptr;         // [rows, width]
};

struct IndexerArgs {
  int64_t start = 0;          // position of the first token
  const float* x = nullptr;   // [rows, dim] the attention input (bf16 values)
  const float* qr = nullptr;  // [rows, q_lora_rank] the normalised low-rank query
  // The rows' projections computed beforehand (IndexerProjections, e.g. over several sequences'
  // rows at once); when set, x and qr are not read.
  IndexerRows projected;
  int64_t rows = 0;
  // The reference's start_pos == 0 (prefill) layout: every row gets min(topk, rows / 4) slots,
  // entries not yet visible to the row become -1. Otherwise each row lists only its visible top-k.
  bool prefill_layout = false;
};

// Each row's selected entries: row t's list is indices[begin[t] .. begin[t + 1]) (-1 = masked).
// Meant to be reused across calls (the vectors keep their capacity; Trim drops a prefill's).
struct EntryLists {
  std::vector<int32_t> indices;
  std::vector<int64_t> begin;  // [rows + 1]
  std::span<const int32_t> row(int64_t t) const {
    const auto b = static_cast<size_t>(begin[static_cast<size_t>(t)]);
    const auto e = static_cast<size_t>(begin[static_cast<size_t>(t) + 1]);
    return std::span<const int32_t>(indices).subspan(b, e - b);
  }
  // Frees the buffers when they hold more than max_bytes.
  void Trim(size_t max_bytes) {
    if (indices.capacity() * sizeof(int32_t) + begin.capacity() * sizeof(int64_t) > max_bytes) {
      indices = {};
      begin = {};
    }
  }
};

// The indexer's row-wise work, for rows of one or several sequences (batched decode: one product
// per weight over every sequence's rows): x [rows, dim], qr [rows, q_lora_rank], positions [rows]
// each row's position (for RoPE). Writes q [rows, heads * hd], head_weights [rows, heads] and the
// indexer compressor's kv, score [rows, width] (CompressorProjections); each row's values are
// those of a call with that row alone.
void IndexerProjections(const IndexerWeights& w, const ModelConfig& config, const Rope& rope,
                        const float* x, const float* qr, std::span<const int64_t> positions,
                        float* q, float* head_weights, float* kv, float* score, const Compute& cx);

// Advances the indexer's compressor (appending keys to state.index_keys) and sets `lists` to each
// row's selected entry indices in the reference's order (-1 = masked).
void SelectEntries(const IndexerWeights& w, const ModelConfig& config, const Rope& rope,
                   const IndexerArgs& args, LayerState& state, const Compute& cx,
                   EntryLists& lists);

}  // namespace dsagent::engine::forward
