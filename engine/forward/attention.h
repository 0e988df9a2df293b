// One attention sub-layer (reference Attention) for a chunk of consecutive tokens: low-rank
// query with per-head RMS normalisation, one shared 512-d latent per token used as key and value
// (MQA), a sliding window over the last window_size tokens, plus compressed entries — all of them
// (HCA, ratio > 4) or the indexer's top-k (CSA, ratio 4) — sparse attention with sink, inverse
// RoPE on the output and the grouped low-rank output projection.
#pragma once

#include <cstdint>
#include <span>

#include "engine/forward/compute.h"
#include "engine/forward/layer_chunk.h"
#include "engine/forward/model_weights.h"
#include "engine/forward/rope.h"
#include "engine/forward/sequence_state.h"

namespace dsagent::engine::forward {

// x [rows, dim] (attn_norm output, bf16 values) for positions start .. start+rows-1, all later
// than what `state` has seen. Writes out [rows, dim] (bf16) and advances `state` (window ring,
// compressors, compressed entries, indexer keys).
void AttentionForward(const AttentionWeights& w, const ModelConfig& config, const Rope& rope,
                      int64_t start, const float* x, int64_t rows, LayerState& state, float* out,
                      const Compute& cx);

// The same for several sequences at once (layer_chunk.h): x and out hold the chunks' rows one
// after another; each chunk's rows get the bits AttentionForward gives them alone.
void AttentionForward(const AttentionWeights& w, const ModelConfig& config, const Rope& rope,
                      std::span<const LayerChunk> chunks, const float* x, float* out,
                      const Compute& cx);

}  // namespace dsagent::engine::forward
