// The lightning indexer's decode step on the device (forward/indexer.h SelectEntries for one
// token): the query (FP8 input, wq_b, RoPE, Hadamard, FP4 per 32), the indexer compressor's step
// appending the keys, the head weights (weights_proj, scaled, bf16), the scores of every visible
// key and their stable top-k. Composed of the kernels of ops.h, attention_ops.h, indexer_ops.h and
// compressor_ops.h; tested step by step against the CPU SelectEntries in
// tests/engine/kernels/cuda_forward_ops_test.cc (skips without a device).
//
// The weights (DeviceIndexer) are shared by every sequence; a sequence's keys and the indexer
// compressor's partial blocks are its DeviceIndexerState.
//
// Not thread-safe: one IndexerSelect at a time per DeviceIndexer (its scratch is shared).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cuda/compressor_ops.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct IndexerShape {
  int64_t heads = 0;      // index_n_heads
  int64_t head_dim = 0;   // index_head_dim (a power of two, <= 4096)
  int64_t rope_dims = 0;  // qk_rope_head_dim
  int64_t topk = 0;       // index_topk (<= 4096)
  int64_t ratio = 4;      // the layer's compress ratio
  int64_t capacity = 0;   // keys a sequence holds: the longest sequence / ratio
};

struct DeviceIndexer {
  IndexerShape shape;
  DeviceWeight wq_b, weights_proj;       // [heads * head_dim, q_lora_rank], [heads, dim]
  DeviceBuffer freqs;                    // [rope_dims / 2]
  DeviceCompressor compressor;           // the indexer's (rotate: Hadamard + FP4 keys)
  DeviceBuffer q, head_weights, scores;  // scratch (scores: [capacity])
  DeviceBuffer topk_scratch;  // TopK's many-CTA path over long contexts (TopKScratchBytes)
  // Whether q holds finished queries, or (fused steps, fused_steps.h) wq_b's outputs whose RoPE,
  // Hadamard and FP4 the scores' launch runs (IndexerQueryPrep): set by IndexerQuery and
  // IndexerQueryOnRmsNorm, read by IndexerSelectAppended.
  bool q_finished = true;

  // Uploads the weights (forward::IndexerWeights' wq_b and weights_proj rows) and the RoPE
  // frequencies of a compressed layer; `compressor` is the indexer's, already on the device.
  static DeviceIndexer Create(const IndexerShape& shape, const WeightRows& wq_b,
                              const WeightRows& weights_proj, const std::vector<float>& freqs,
                              DeviceCompressor compressor, CudaStream& stream);
};

// One sequence's indexer state: its keys (forward::LayerState::index_keys, room for capacity) and
// the indexer compressor's partial blocks (LayerState::index_compressor).
struct DeviceIndexerState {
  DeviceBuffer keys;  // [capacity, head_dim] bf16 bits, entry c at row c
  DeviceCompressorState compressor;

  // Zeroed keys and an empty compressor; complete when it returns. Throws CudaError.
  static DeviceIndexerState Create(const DeviceIndexer& ix, CudaStream& stream);
  void Reset(const DeviceIndexer& ix, CudaStream& stream);  // queued on `stream`
};

// The token at `pos` (positions in order from 0; `state` holds positions [0, pos)): x [dim] the
// attention input, qr_fp8 [q_lora_rank] the normalised low-rank query's FP8 act_quant per 128
// (device; the copy RmsNormQuant makes for the attention's own wq_b, which the indexer's wq_b
// takes as well, so it needs no act_quant of its own). Writes the
// selected entries (descending score, ties to the lower entry) to selected [topk] and returns how
// many: min(topk, (pos + 1) / ratio). Waits for nothing; the count is known on the host.
int64_t IndexerSelect(DeviceIndexer& ix, DeviceIndexerState& state, const float* x,
                      const float* qr_fp8, int64_t pos, int32_t* selected, CudaStream& stream);

// IndexerSelect in four steps, for a decode step that runs them on side streams
// (attention_step.cu: the keys and the head weights need only x, so they start before the query
// exists):
//   IndexerAppendKey   the keys' compressor takes the token (entry pos / ratio appended when pos
//                      ends a block);
//   IndexerHeadWeights the token's head weights, into ix's scratch;
//   IndexerQuery       the token's queries, into ix's scratch (with the fused steps on, wq_b's
//                      outputs: their RoPE, Hadamard and FP4 run in the scores' launch);
//   IndexerSelectAppended  after the three, once: the scores and the top-k, as IndexerSelect,
//                      with entry_offset added to each entry written (the decode step writes
//                      them into the attention's index list, after the window's rows).
// The same kernels on the same buffers as IndexerSelect: the same bits. The two that touch the
// keys throw CudaError as IndexerSelect does past the capacity, before they queue anything (the
// decode step appends the key first, so it throws before it queues any of them).
void IndexerAppendKey(DeviceIndexer& ix, DeviceIndexerState& state, const float* x, int64_t pos,
                      CudaStream& stream);
void IndexerHeadWeights(DeviceIndexer& ix, const float* x, CudaStream& stream);
void IndexerQuery(DeviceIndexer& ix, const float* qr_fp8, int64_t pos, CudaStream& stream);
// IndexerQuery from qr itself, not yet normed (q_lora_rank values; the attention's q_norm weight
// and eps): the indexer's wq_b norms and quantises it as it stages it (ops.h MatVecOnRmsNorm), the
// bits of IndexerQuery on RmsNormQuant's FP8 copy. Where NormsAsItStages(ix.wq_b) qr is left as it
// is (the attention's own wq_b reads it too); else it is normed and quantised in place.
void IndexerQueryOnRmsNorm(DeviceIndexer& ix, float* qr, const float* norm_weight, float eps,
                           int64_t pos, CudaStream& stream);
int64_t IndexerSelectAppended(DeviceIndexer& ix, DeviceIndexerState& state, int64_t pos,
                              int32_t* selected, CudaStream& stream, int32_t entry_offset = 0);

// IndexerSelect in two steps, for a forward over many rows (attention_step.h AttentionRows): the
// queries and head weights are row-wise, so a chunk's rows get them in one pass each
// (IndexerHeadWeightsRows: rows x [dim] x_stride apart -> hw [rows, heads], not yet times the
// indexer's factor hd^-0.5 * heads^-0.5: the scores' launch applies it; IndexerQueryRows:
// qr_fp8 [rows, q_lora_rank], row t at positions[t] (device int32) -> q [rows, heads * head_dim]
// (FP4 values); each row's bits as alone; the head weights need only x, so they can go first),
// then each row in order feeds the keys' compressor and selects (IndexerSelectQueried with that
// row's q and hw, its x and its indexer-compressor projections from CompressorProjections on
// ix.compressor).
void IndexerHeadWeightsRows(DeviceIndexer& ix, const float* x, int64_t x_stride, int64_t rows,
                            float* hw, CudaStream& stream);
void IndexerQueryRows(DeviceIndexer& ix, const float* qr_fp8, int64_t rows,
                      const int32_t* positions, float* q, CudaStream& stream);
// scratch (may be null: the indexer's own) is what the selection writes besides `selected` and
// the state: a caller running several sequences' rows side by side gives each its own.
struct IndexerSelectScratch {
  float* scores = nullptr;  // [capacity] device floats
  void* topk = nullptr;     // TopKScratchBytes(topk) device bytes
  int64_t topk_bytes = 0;
  float* key_entry = nullptr;  // [the key compressor's head_dim] device floats
};
// entry_offset: added to each selected entry (IndexerSelectAppended's: the selection written
// straight into an index list after its window).
int64_t IndexerSelectQueried(DeviceIndexer& ix, DeviceIndexerState& state,
                             const float* key_projected, const float* q, const float* hw,
                             int64_t pos, int32_t* selected, CudaStream& stream,
                             const IndexerSelectScratch* scratch = nullptr,
                             int32_t entry_offset = 0);

// IndexerSelectQueried for a chunk's rows together (attention_step.h's chunk-wide attention), in
// two steps. IndexerAppendKeys appends the keys of `rows` rows at positions pos0, pos0 + 1, ...
// (key_projected [rows, 2 * the compressor's width]; compressor_ops.h CompressProjectedRows: the
// keys and compressor state of the row steps). Then IndexerSelectRows selects for those rows (q
// [rows, heads * head_dim], hw [rows, heads]; every key they see appended): selected [rows,
// topk], row t's first min(topk, (pos0 + t + 1) / ratio) entries its selection, the bits
// IndexerSelectQueried gives it. kIndexerRowsGroup rows at a time: the scores of each group
// (IndexerScoresRows) in `scores` (IndexerRowsScratchFloats floats), then their top-k (TopK, one
// CTA a row). Both throw CudaError past the keys' capacity.
constexpr int64_t kIndexerRowsGroup = 16;
void IndexerAppendKeys(DeviceIndexer& ix, DeviceIndexerState& state, const float* key_projected,
                       int64_t pos0, int64_t rows, const CompressRowsScratch& scratch,
                       CudaStream& stream);
void IndexerSelectRows(DeviceIndexer& ix, DeviceIndexerState& state, const float* q,
                       const float* hw, int64_t pos0, int64_t rows, int32_t* selected,
                       float* scores, CudaStream& stream);
int64_t IndexerRowsScratchFloats(const IndexerShape& shape);

// IndexerSelectQueried's selection for a batched decode step's `rows` rows, each of its own
// sequence, after their keys are appended (compressor_ops.h CompressProjectedSequences with
// `sequences`, each row's indexer keys' compressor): row t at positions[t] (device) with query
// q + t * heads * head_dim and head weights hw + t * heads; its selection (entry_offset added) at
// selected + t * selected_stride, the bits IndexerSelectQueried gives it, then padding up to
// topk (indexer_ops.h TopKSequences). The queries are IndexerQueryProductRows' (their steps
// not yet run). `longest`: the most keys a row sees (host; at most the
// capacity). kIndexerRowsGroup rows at a time, their scores in `scores`
// (IndexerSequencesScoresFloats): a launch for the scores and one for the top-k.
int64_t IndexerSequencesScoresLength(const IndexerShape& shape, int64_t longest);
int64_t IndexerSequencesScoresFloats(const IndexerShape& shape, int64_t rows, int64_t longest);
void IndexerSelectSequences(const DeviceIndexer& ix, const CompressorRow* sequences, const float* q,
                            const float* hw, const int32_t* positions, int64_t rows,
                            int64_t longest, float* scores, int32_t* selected,
                            int64_t selected_stride, int32_t entry_offset, CudaStream& stream);
// The rows' queries for it (q [rows, heads * head_dim]): IndexerQueryRows' product alone; the
// selection runs their steps (RoPE at each row's position, Hadamard, FP4) in its scores' launch
// where the tiled kernel takes the shape (IndexerQueryPrep), else in a launch before them.
void IndexerQueryProductRows(DeviceIndexer& ix, const float* qr_fp8, int64_t rows, float* q,
                             CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
