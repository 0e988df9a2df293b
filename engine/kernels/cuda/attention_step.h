// One attention sub-layer's decode step on the device (forward/attention.h AttentionForward for
// one token): low-rank query with the per-head norm and RoPE, the window KV (norm, RoPE, FP8 on
// the non-RoPE dims), the indexer's selection (CSA) or every compressed entry (HCA), sparse
// attention with the sink, inverse RoPE and the grouped low-rank output. Composed of the kernels
// of ops.h, attention_ops.h, indexer_step.h and compressor_ops.h; tested token by token against
// the CPU AttentionForward in tests/engine/kernels/cuda_forward_ops_test.cc (skips without a
// device).
//
// The weights (DeviceAttention) are shared by every sequence; a sequence's KV is its
// DeviceAttentionState. The KV cache is one device buffer of bf16 rows: the window ring (position
// p at row p % window) then the compressed entries (entry e at row window + e), so every index
// list is row numbers in it.
//
// Not thread-safe: one AttentionDecode at a time per DeviceAttention (its scratch is shared).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cuda/compressor_ops.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/indexer_step.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/rows_scratch.h"
#include "engine/kernels/cuda/side_stream.h"

namespace dsagent::engine::kernels::cuda {

struct AttentionShape {
  int64_t dim = 0, heads = 0, head_dim = 0, rope_dims = 0, q_lora_rank = 0;
  int64_t o_groups = 0, o_lora_rank = 0;
  int64_t window = 0;    // sliding window (ring rows)
  int64_t ratio = 0;     // 0: window only; 4: CSA (indexer); other: HCA (every entry)
  int64_t capacity = 0;  // compressed entries the cache holds
  float norm_eps = 1e-6f;
};

// The host weights of one attention sub-layer, as stored (forward::AttentionWeights' views).
struct AttentionWeightRows {
  WeightRows wq_a, wq_b, wkv, wo_a, wo_b;
  std::vector<float> q_norm, kv_norm, attn_sink;
  std::vector<float> freqs;  // the layer's RoPE frequencies (forward::Rope::frequencies())
};

struct DeviceAttention {
  AttentionShape shape;
  DeviceWeight wq_a, wq_b, wkv, wo_a, wo_b;  // wo_a: [o_groups * o_lora_rank, heads*hd/groups]
  DeviceBuffer q_norm, kv_norm, attn_sink, freqs;
  std::optional<DeviceCompressor> compressor;                       // ratio > 0
  std::optional<DeviceIndexer> indexer;                             // ratio 4
  DeviceBuffer x_quant, qr, qr_quant, q, kv, o, z, list, selected;  // scratch
  // SparseAttention's split scratch (SparseAttentionScratchFloats: 2.1 MB for 64 heads of 512;
  // one per layer, within the planner's kDeviceWorkspaceBytes).
  DeviceBuffer attention_splits;
  // The decode step's counts of each head's finished splits and the splits' published maxima
  // (SparseAttention's arrivals: SparseAttentionArrivalsBytes): the last split combines them.
  // Zero between steps.
  DeviceBuffer attention_arrivals;
  // Whether a token's attention splits its list over CTAs (flash-decoding: the fast contract,
  // not the CPU's bits) or runs one CTA per head (the CPU's bits: the exact numerics,
  // device_model_upload.h UseExactNumerics).
  bool split_attention = true;
  // AttentionDecode's side streams (side_stream.h): this token's KV row, the index list's window,
  // the KV compressor (ratio > 0), the indexer's keys and the indexer's query and selection (ratio
  // 4), each beside the query.
  std::unique_ptr<SideStream> kv_side, list_side, compressor_side, index_keys_side, indexer_side;

  // Uploads everything; `compressor` and `indexer` as the ratio needs them (else empty).
  // Throws std::invalid_argument for sizes that do not fit the shape, CudaError for the device.
  static DeviceAttention Create(const AttentionShape& shape, const AttentionWeightRows& w,
                                std::optional<DeviceCompressor> compressor,
                                std::optional<DeviceIndexer> indexer, CudaStream& stream);
};

// One sequence's state of an attention sub-layer (forward::LayerState on the device): the KV cache
// (the window ring, then room for `capacity` compressed entries), the KV compressor's partial
// blocks (ratio > 0) and the indexer's keys and compressor (ratio 4).
struct DeviceAttentionState {
  DeviceBuffer cache;  // [window + capacity (ratio > 0) or window, head_dim] bf16 bits
  std::optional<DeviceCompressorState> compressor;  // ratio > 0
  std::optional<DeviceIndexerState> indexer;        // ratio 4

  // An empty state (zeroed rows, empty compressors) for `a`'s shape; complete when it returns.
  // Throws CudaError (out of memory names the size).
  static DeviceAttentionState Create(const DeviceAttention& a, CudaStream& stream);
  // Back to empty, queued on `stream`.
  void Reset(const DeviceAttention& a, CudaStream& stream);
};

// The token at `pos` (positions in order from 0; `state` holds [0, pos)): x [dim] the attn_norm
// output (device, bf16 values) -> out [dim] (device, bf16 values); the state's cache and
// compressors move on. With side streams on, the KV row, the compressor and the indexer run beside
// the query (their own buffers; joined back before the index list): the same bits.
// x_fp8_written: the caller has written x's FP8 act_quant (per 128) to AttentionFp8Input(a), as
// HcPreNorm does with its y_fp8, so it is not computed here (one launch fewer).
void AttentionDecode(DeviceAttention& a, DeviceAttentionState& state, const float* x, int64_t pos,
                     float* out, CudaStream& stream, bool x_fp8_written = false);

// Where AttentionDecode reads x's FP8 copy from: [dim] floats of `a`'s own.
float* AttentionFp8Input(DeviceAttention& a);

// Rows per SparseAttentionRows launch of the chunk-wide attention (its split scratch, DeviceRows::
// attention_splits, holds this many rows: 34 MB for 64 heads of 512).
constexpr int64_t kAttentionRowsGroup = 16;

// Whether AttentionRows runs a chunk's attention chunk-wide (the default) or row by row
// (DSAGENT_CUDA_ROW_ATTENTION=per-row, read once; SetChunkWideAttention overrides it for the
// process: tests and benchmarks compare the two). The same bits either way.
bool ChunkWideAttention();
void SetChunkWideAttention(bool on);

// A chunk of consecutive rows of one sequence for AttentionRows: `rows` tokens from position
// `pos` (its state holds [0, pos)).
struct AttentionChunk {
  DeviceAttentionState* state = nullptr;
  int64_t pos = 0, rows = 0;
};

// A batched decode step's rows' sequences in one layer, device arrays of a row each that
// StageRows uploads (model_rows.h; DeviceRows::row_caches, row_compressors): each row's
// sequence's KV cache, its KV compressor's state and entries, its indexer keys' compressor's
// (compressor_ops.h CompressorRow; null where the layer has no such compressor).
struct SequenceRows {
  uint16_t* const* caches = nullptr;
  const CompressorRow* kv = nullptr;
  const CompressorRow* keys = nullptr;
};

// AttentionDecode over many rows: x [rows, dim] (the chunks' rows one after another; rows = the
// sum of their rows, <= scratch.max_rows) -> out [rows, dim]. The row-wise steps (the projections,
// norms, RoPE at each row's position from scratch.positions, the output) run on all rows at once,
// each weight read once for them; the state steps (the KV ring row, the indexer's selection, the
// compressor, the sparse attention) run per chunk in row order, each row exactly as
// AttentionDecode runs it — or, chunk-wide (ChunkWideAttention, for chunks of more than one row),
// each compressor fed the whole chunk (compressor_ops.h CompressProjectedRows, the indexer's keys
// too), then every row's indexer selection (IndexerSelectRows), index list and the sparse
// attention of all the chunk's rows at once over the ring as it stood before the chunk and the
// chunk's own KV rows staged aside, then the ring takes the chunk's last rows
// (chunk_lists_math.h). A batched decode step (every chunk one row, of several sequences) with
// `sequences` (SequenceRows.caches set) puts every row's KV into its sequence's ring as the KV
// rows' steps end, makes every row's list in one launch, and runs the rows' compressors and
// indexer selection a launch each for all its rows right after their inputs, on the KV and
// indexer side streams beside the rows' query (the top-k writes each row's selection into its
// list) — or, where those launches cannot take the rows (attention_step.cu SequencesStepsTake:
// fused steps off, a selection long enough for the many-CTA top-k), each row's steps on the row
// chains' side streams — then the attention of all its rows at once, each over its own cache.
// Every row's output is AttentionDecode's bits for that token.
// Throws CudaError, before queuing anything, when a row needs more compressed entries than the
// cache holds, or a batched step has two rows of one sequence. Uses scratch's attention buffers
// (and the layer's own for the per-row steps).
// x_fp8_written: scratch.x_quant holds x's FP8 act_quant (per 128) already, as HcPreNorm writes
// it with its y_fp8, so it is not computed here.
void AttentionRows(DeviceAttention& a, const AttentionChunk* chunks, int64_t n_chunks,
                   const float* x, int64_t rows, DeviceRows& scratch, float* out,
                   CudaStream& stream, const SequenceRows& sequences = {},
                   bool x_fp8_written = false);

}  // namespace dsagent::engine::kernels::cuda
