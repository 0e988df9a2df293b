// The CUDA kernels of the lightning indexer's selection (CSA layers), each with the contract of
// its CPU twin; the arithmetic is attention_math.h's, shared with the host:
//   IndexerScores  forward/indexer.h IndexerScores (one query token against every visible key)
//   TopK           forward/indexer.h StableTopK (descending score, ties to the lower index)
// The query side (wq_b product, RoPE, Hadamard, FP4) and the head weights are the shared kernels
// (MatVec, RopeRotate, HadamardRotate, ActQuant). Pointers are device pointers; calls are queued
// on `stream` (bad arguments and failed launches throw CudaError). Tested against the CPU twins in
// tests/engine/kernels/cuda_forward_ops_test.cc (skips without a device).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/compressor_ops.h"
#include "engine/kernels/cuda/device_runtime.h"

namespace dsagent::engine::kernels::cuda {

struct VectorSteps;  // vector_steps.h

// score[e] = bf16(sum_h bf16(relu(bf16(q_h . K_e)) * w_h)) for e < n: q [heads, hd] (FP4-simulated
// values), keys [n, hd] bf16 bits, w_h = bf16(head_weights[h] * head_scale) (head_scale: the
// indexer's factor hd^-0.5 * heads^-0.5, applied in this launch; the default 1 takes bf16 weights
// as they are). heads * hd <= 12000 (q is staged in shared memory).
// With prep.on, q holds the indexer query's wq_b outputs (bf16 values) instead, and the query's
// steps run first — RoPE at prep.pos on the last prep.rope_dims values of each head, the Hadamard
// rotation, FP4 per 32 (RunVectorSteps' bits, as indexer_step.cc's queries take them): in each
// CTA on its own staged copy of q where the tiled kernel takes the shape (V4's: q left as it is),
// else on q in place in a launch before (hd then a power of two and a multiple of 32). No launch
// of their own between the query's product and the scores on a decode step's path.
struct IndexerQueryPrep {
  bool on = false;
  const float* freqs = nullptr;  // rope_dims / 2 device floats
  int64_t rope_dims = 0;
  int64_t pos = 0;
  // IndexerScoresSequences' rows: row t's position positions[t] (device), in place of pos.
  const int32_t* positions = nullptr;
};
void IndexerScores(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                   const uint16_t* keys, int64_t n, float* score, CudaStream& stream,
                   float head_scale = 1.0f, const IndexerQueryPrep& prep = {});

// The indexer query's steps as RunVectorSteps takes them (vector_steps.h), for heads of hd values:
// RoPE on the last prep.rope_dims at prep.pos (or, with positions, vector v at
// positions[v / heads]), the Hadamard rotation, FP4 per 32. What IndexerQueryPrep runs in the
// scores' launch; indexer_step.cc's queries run it as a launch of its own.
VectorSteps IndexerQueryVectorSteps(int64_t hd, int64_t heads, const IndexerQueryPrep& prep,
                                    const int32_t* positions = nullptr);

// IndexerScores for `rows` tokens at consecutive positions pos0, pos0 + 1, ... of a layer with
// this compress ratio, each against the keys it sees: row t's q [heads, hd] at q + t * heads * hd,
// its head weights at head_weights + t * heads, its scores score[t * score_stride + e] for e <
// (pos0 + t + 1) / ratio — each the bits IndexerScores gives that token alone — and -inf for e up
// to pad_to (so that TopK over pad_to scores per row picks each row's own top first).
void IndexerScoresRows(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                       const uint16_t* keys, int64_t pos0, int64_t rows, int64_t ratio,
                       float* score, int64_t score_stride, int64_t pad_to, CudaStream& stream,
                       float head_scale = 1.0f);

// IndexerScoresRows for a batched decode step's `rows` rows, each of its own sequence: row t's
// query q + t * heads * hd, head weights head_weights + t * heads, position positions[t] and keys
// sequences[t].entries (device arrays; each row's keys 16-byte aligned, as an indexer state's
// buffer is) — its (positions[t] + 1) / ratio scores at score + t * score_stride, the bits
// IndexerScores gives that row alone. Nothing is written past a row's keys (TopKSequences reads
// those as -inf). `longest`: at least the most keys of any row, at most score_stride.
// With prep.on, each row's query steps at its position (prep.positions = positions) come first, as
// IndexerScores' prep: in the tiled kernel's launch, else on q in place in a launch before.
void IndexerScoresSequences(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                            const CompressorRow* sequences, const int32_t* positions, int64_t rows,
                            int64_t ratio, int64_t longest, float* score, int64_t score_stride,
                            CudaStream& stream, float head_scale = 1.0f,
                            const IndexerQueryPrep& prep = {});

// TopK of IndexerScoresSequences' rows (score [rows, n]; n >= k): row t's own scores are its
// first (positions[t] + 1) / ratio, the rest count as -inf (IndexerScoresRows' padding, not
// written); its k indices (index_offset added) at out + t * out_stride (>= k). A row with fewer
// own scores than k gets them first, in TopK's order, then padding indices. One launch, a CTA a
// row: TopKSequencesTakes(n) says whether that is as fast as the rows alone would be (below the
// many-CTA path's length).
bool TopKSequencesTakes(int64_t n);
void TopKSequences(const float* score, int64_t rows, int64_t n, int64_t k, const int32_t* positions,
                   int64_t ratio, int32_t* out, int64_t out_stride, CudaStream& stream,
                   int32_t index_offset = 0);

// For each of `rows` rows of n scores (score [rows, n]): out [rows, min(k, n)] the indices of the
// largest scores, descending, ties to the lower index. k <= 4096. (An 8-bit radix selection of
// the k-th largest (score, index) key, stopped once the keys it could still pick fit in the sort's
// capacity, TopKSortCapacity(k), then a bitonic sort of those: the order is the stable sort's,
// whatever the threads' timing.) One CTA a row; a single row of 64K scores or more
// with a `scratch` of TopKScratchBytes(k) bytes (device memory, not shared with a concurrent
// call) is counted by many CTAs instead (a decode step's selection at a long context: one CTA
// took 548 us over 256K scores on the H200) — the same output either way. index_offset is added
// to every index written (a decode step's selection goes straight into the attention's index
// list, whose compressed entries follow the window's rows).
void TopK(const float* score, int64_t rows, int64_t n, int64_t k, int32_t* out, CudaStream& stream,
          void* scratch = nullptr, int64_t scratch_bytes = 0, int32_t index_offset = 0);
int64_t TopKScratchBytes(int64_t k);

}  // namespace dsagent::engine::kernels::cuda
