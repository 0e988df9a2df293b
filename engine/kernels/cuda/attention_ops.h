// The CUDA kernels of the attention sub-layer beyond the shared ones (ops.h), each with the
// contract of its CPU twin in `fast` numerics; the arithmetic is attention_math.h's, shared with
// the host:
//   HeadRmsNorm      cpu/head_norm.h HeadRmsNormBf16 (the q heads' weightless norm)
//   HadamardRotate   cpu/quant_ops.h HadamardRotateBf16 (indexer queries and keys)
//   SparseAttention  cpu/attention_ops.h SparseAttentionHead, every head of one query
//                    token over one index list (decode); SparseAttentionTokens: several tokens,
//                    a list each (prefill)
// Pointers are device pointers; every call is queued on `stream` and returns at once (a bad
// argument or a failed launch throws CudaError; errors of the run surface at the next Synchronize).
// Tested against the CPU twins in tests/engine/kernels/cuda_forward_ops_test.cc (skips without a
// device).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_runtime.h"

namespace dsagent::engine::kernels::cuda {

// In place on `count` vectors of n values (bf16 values): q *= rsqrt(mean(q^2) + eps), every step
// rounded to bf16.
void HeadRmsNorm(float* x, int64_t count, int64_t n, float eps, CudaStream& stream);

// In place on `count` vectors of n values (n a power of two, 2 <= n <= 4096; bf16 values):
// x <- bf16(H x * n^-0.5), H the Sylvester Hadamard matrix.
void HadamardRotate(float* x, int64_t count, int64_t n, CudaStream& stream);

// One query token's attention, every head over the same index list (K = V, MQA):
// q [heads, head_dim] (bf16 values); kv: rows of head_dim bf16 bits (the cache); index [n] rows
// of kv in the reference's order, -1 masked; sink [heads] the heads' sink logits; scale the
// softmax scale. Writes o [heads, head_dim] (bf16 values). n may be 0 (only the sink).
// split_scratch null: one CTA per head walks the whole list, the CPU's bits. Otherwise (device
// floats, SparseAttentionScratchFloats of them; not shared with concurrent calls) the list is
// split over up to 16 CTAs per head and combined (flash-decoding, attention_math.h
// PlanAttentionSplits): the `fast` contract, not the same bits, since the accumulator is
// rescaled per split rather than per block. Not yet timed on a GPU.
// With `rope` set (dims > 0), o's heads are then rotated back by RoPE at rope.pos on their last
// rope.dims values, V4's next step (RopeRotate's inverse, its bits): in the combine's launch when
// the list is split, else by each head's CTA once it has written its output (in a launch of its
// own with FusedStepsOn() false). With arrivals as well (device memory of
// SparseAttentionArrivalsBytes(heads), zero before the first call and left zero by each; one call
// at a time), a split list is combined by each head's last split to finish (last_cta.cuh)
// instead of a launch of its own, and the splits' score maxima, which each split's softmax
// starts from, are found in the same launch (each split publishes its own and waits for the
// earlier ones': attention_ops.cu's look-back) rather than in a launch before it, as long as a
// split is at most 32 blocks of 64 entries: the same bits, two kernels fewer on a decode step's
// path (unless FusedStepsOn() is false: fused_steps.h).
// With `prep.head_norm` set, q holds the heads as wq_b left them and each CTA runs the query's
// steps on its own copy of its head as it loads it: HeadRmsNorm (prep.eps), then RoPE at prep.pos
// on the last prep.rope_dims values — RunVectorSteps' head_norm and rope steps, their bits — so
// that no launch of their own comes before the attention (the decode step's query, unless
// FusedStepsOn() is false). q is left as it is.
struct InverseRope {
  const float* freqs = nullptr;  // dims / 2 device floats
  int64_t dims = 0;
  int64_t pos = 0;
  const int32_t* positions = nullptr;  // SparseAttentionRows: row t's at positions[t] (device)
};
struct QueryPrep {
  bool head_norm = false;
  float eps = 0.0f;
  const float* freqs = nullptr;  // rope_dims / 2 device floats
  int64_t rope_dims = 0;
  int64_t pos = 0;
  const int32_t* positions = nullptr;  // SparseAttentionRows: row t's at positions[t] (device)
};
void SparseAttention(const float* q, int64_t heads, int64_t head_dim, const uint16_t* kv,
                     const int32_t* index, int64_t n, const float* sink, float scale, float* o,
                     CudaStream& stream, float* split_scratch = nullptr,
                     const InverseRope& rope = {}, unsigned* arrivals = nullptr,
                     const QueryPrep& prep = {});

// The bytes of SparseAttention's arrivals for `heads` heads.
int64_t SparseAttentionArrivalsBytes(int64_t heads);

// The floats of SparseAttention's split_scratch for heads x head_dim (any n).
int64_t SparseAttentionScratchFloats(int64_t heads, int64_t head_dim);

// A prefill chunk's rows at once, each over its own list (chunk_lists_math.h): q, o [rows, heads,
// head_dim]; row t's list is index[t * list_stride .. + row_n[t]) (row_n [rows] on the device),
// entries >= kStagedRow reading staged row e - kStagedRow instead of kv row e. Each row's output
// is the bits SparseAttention gives for its list alone: with split_scratch
// (SparseAttentionRowsScratchFloats(rows, ...) floats) each row is split as SparseAttention splits
// a list of its length (SparseAttentionRowSplits; max_splits: the most any row takes, which
// sizes the grid), else one CTA per (row, head). rows <= 65535. row_kv (device, [rows], may be
// null): row t's KV rows are row_kv[t] instead of kv — several sequences' decode rows in one
// launch, each over its own cache (whole device allocations: 16-byte aligned). arrivals (device
// memory of SparseAttentionRowsArrivalsBytes(rows, heads), zero before the first call and left
// zero by each; one call at a time; may be null): as SparseAttention's, the split rows combined
// by their last splits and their maxima found in the same launch (when a list of list_stride
// entries would be split into at most 32 blocks each), the same bits in one launch instead of
// three (unless FusedStepsOn() is false). With `rope` set (dims > 0, positions [rows] on the
// device), each row's heads are rotated back by RoPE at its position, as SparseAttention's rope
// does (by the row's combine, or its head's one CTA): RopeRotateRows' inverse, its bits, and no
// launch of its own (unless FusedStepsOn() is false: then that launch after). With
// `prep.head_norm` set (and prep.positions [rows] on the device), each CTA runs the query's steps
// on its own copy of its row's head as SparseAttention's prep does, RoPE at the row's position:
// q holds the heads as wq_b left them, and is left so.
void SparseAttentionRows(const float* q, int64_t rows, int64_t heads, int64_t head_dim,
                         const uint16_t* kv, const uint16_t* staged, const int32_t* index,
                         int64_t list_stride, const int32_t* row_n, int max_splits,
                         const float* sink, float scale, float* o, CudaStream& stream,
                         float* split_scratch = nullptr, const uint16_t* const* row_kv = nullptr,
                         unsigned* arrivals = nullptr, const InverseRope& rope = {},
                         const QueryPrep& prep = {});
int64_t SparseAttentionRowsScratchFloats(int64_t rows, int64_t heads, int64_t head_dim);
int64_t SparseAttentionRowsArrivalsBytes(int64_t rows, int64_t heads);
// The splits SparseAttention (given a scratch) makes of one token's list of n entries.
int SparseAttentionRowSplits(int64_t n, int64_t heads);

// Several query tokens (prefill), each over its own list: q, o [tokens, heads, head_dim]; token
// t's list is index[list_begin[t] .. list_begin[t + 1]) (list_begin [tokens + 1] on the device,
// as forward/attention.cc builds them). tokens <= 65535. Never split: the CPU's bits.
void SparseAttentionTokens(const float* q, int64_t tokens, int64_t heads, int64_t head_dim,
                           const uint16_t* kv, const int32_t* index, const int64_t* list_begin,
                           const float* sink, float scale, float* o, CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
