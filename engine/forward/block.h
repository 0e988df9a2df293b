// One transformer block (reference Block) on the hc residual streams of a chunk of tokens:
//   h = hc_post(attn(attn_norm(hc_pre(h))), h);  h = hc_post(moe(ffn_norm(hc_pre(h))), h)
// and the head (hc_head -> norm -> logits). Shared by the decoder layers and the MTP blocks.
#pragma once

#include <cstdint>
#include <span>

#include "engine/forward/compute.h"
#include "engine/forward/layer_chunk.h"
#include "engine/forward/model_weights.h"
#include "engine/forward/rope.h"
#include "engine/forward/sequence_state.h"

namespace dsagent::engine::forward {

// h [rows, hc, dim] (bf16 values), updated in place, for positions start .. start+rows-1;
// tokens [rows] are the ids the MoE routes hash layers by.
void BlockForward(const BlockWeights& w, const ModelConfig& config, const Rope& rope, int64_t start,
                  const int32_t* tokens, int64_t rows, float* h, LayerState& state,
                  const Compute& cx);

// The same for several sequences at once (layer_chunk.h): h holds the chunks' rows one after
// another, tokens [rows] likewise; each row gets the bits BlockForward gives it alone.
void BlockForward(const BlockWeights& w, const ModelConfig& config, const Rope& rope,
                  std::span<const LayerChunk> chunks, const int32_t* tokens, float* h,
                  const Compute& cx);

// logits [rows, vocab] (fp32) = head . norm(hc_head(h)).
void HeadForward(const HcWeights& hc_head, const std::vector<float>& norm, const WeightMatrix& head,
                 const ModelConfig& config, const float* h, int64_t rows, float* logits,
                 const Compute& cx);

}  // namespace dsagent::engine::forward
