// The mixture-of-experts FFN (reference MoE/Gate/Expert): a router picks n_activated routed
// experts per token — by token id through tid2eid in the first n_hash_layers, else the top-k of
// score + bias — weighted by the renormalised scores times route_scale; plus one shared expert.
// Experts are SwiGLU with FP8-quantised inputs; routed experts clamp at swiglu_limit.
#pragma once

#include <cstdint>
#include <string>

#include "engine/forward/compute.h"
#include "engine/forward/model_weights.h"

namespace dsagent::engine::forward {

// The router's score function (config scoring_func).
enum class ScoreFunc { kSoftmax, kSigmoid, kSqrtSoftplus };
ScoreFunc ScoreFuncOf(const std::string& name);

struct RouterShape {
  int64_t experts = 0;  // n_routed_experts
  int64_t k = 0;        // n_activated_experts
  ScoreFunc func = ScoreFunc::kSqrtSoftplus;
  float route_scale = 1.0f;
};

// The router after the gate product: scores [rows, experts] (the gate's fp32 products) become the
// routing scores in place; ids and weights [rows, k] get each row's experts and their weights.
// hash_ids [rows, k] (the tokens' tid2eid rows) picks the experts of a hash layer; null picks the
// top-k of score + bias (descending, ties to the lower expert: a stable sort). Weights are the
// chosen scores, divided by their fp32 sum (not for softmax), times route_scale.
// (The CUDA kernel's twin: kernels/cuda/ops.h MoeRoute.)
void RouteFromScores(float* scores, int64_t rows, const RouterShape& shape, const float* bias,
                     const int32_t* hash_ids, int32_t* ids, float* weights);

// x [rows, dim] (ffn_norm output, bf16 values), tokens [rows] the input ids (hash routing).
// Writes out [rows, dim] (bf16).
void MoeForward(const MoeWeights& w, const ModelConfig& config, const float* x,
                const int32_t* tokens, int64_t rows, float* out, const Compute& cx);

}  // namespace dsagent::engine::forward
