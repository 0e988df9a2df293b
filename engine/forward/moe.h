// The mixture-of-experts FFN (reference MoE/Gate/Expert): a router picks n_activated routed
// experts per token — by token id through tid2eid in the first n_hash_layers, else the top-k of
// score + bias — weighted by the renormalised scores times route_scale; plus one shared expert.
// Experts are SwiGLU with FP8-quantised inputs; routed experts clamp at swiglu_limit.
#pragma once

#include <cstdint>

#include "engine/forward/model_weights.h"
#include "engine/forward/compute.h"

namespace dsagent::engine::forward {

// The expert activation in place on g [n, inter]: g <- bf16(row_weight[t] * (silu(g) * u)), with
// u clamped to [-limit, limit] and g from above when limit > 0; row_weight may be null (weight 1).
// (The CUDA kernel's twin: kernels/cuda/ops.h SwiGlu.)
void SwiGluInPlace(float* g, const float* u, int64_t n, int64_t inter, const float* row_weight,
                   float limit);

// x [rows, dim] (ffn_norm output, bf16 values), tokens [rows] the input ids (hash routing).
// Writes out [rows, dim] (bf16).
void MoeForward(const MoeWeights& w, const ModelConfig& config, const float* x,
                const int32_t* tokens, int64_t rows, float* out, const Compute& cx);

}  // namespace dsagent::engine::forward
