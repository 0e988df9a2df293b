// The KV compressor (reference Compressor): learned gated pooling of `ratio` consecutive tokens
// into one entry, per channel softmax over the candidates' gate logits (+ position bias ape).
// Ratio 4 overlaps: an entry pools the first half of the previous block's projections with the
// second half of its own block's. Entry c is produced when token c*ratio + ratio - 1 arrives; it
// is RMS-normalised, rotated at position c*ratio, then FP8-simulated on its non-RoPE dims (main
// KV) or Hadamard-rotated and FP4-simulated (indexer keys). The pooling is Ops::CompressorPool.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/forward/model_weights.h"
#include "engine/forward/rope.h"
#include "engine/forward/sequence_state.h"
#include "engine/forward/compute.h"

namespace dsagent::engine::forward {

// Feeds tokens at positions start .. start+rows-1 (x [rows, dim], bf16 values). Appends every
// entry completed by them to `entries` as bf16 bits [head_dim each] and advances `state`.
void Compress(const CompressorWeights& w, const Rope& rope, float norm_eps, int64_t start,
              const float* x, int64_t rows, CompressorState& state, std::vector<uint16_t>& entries,
              const Compute& cx);

// Compress in two parts, for several sequences in one call (batched decode): the projections are
// row-wise, so one product over every sequence's rows reads the weights once, and each sequence's
// part of them then feeds its own state.
// kv and score [rows, width] (width = w.wkv.rows, fp32) = wkv . x and wgate . x, in exact numerics
// whatever cx says: the pooled entries go through FP8/FP4 quantisation (Compute::Exact).
void CompressorProjections(const CompressorWeights& w, const float* x, int64_t rows, float* kv,
                           float* score, const Compute& cx);
// Compress from the rows' projections (CompressorProjections) instead of their x.
void CompressProjected(const CompressorWeights& w, const Rope& rope, float norm_eps, int64_t start,
                       const float* kv, const float* score, int64_t rows, CompressorState& state,
                       std::vector<uint16_t>& entries, const Compute& cx);

}  // namespace dsagent::engine::forward
