// The mixture-of-experts FFN (reference MoE/Gate/Expert): a router picks n_activated routed
// experts per token — by token id through tid2eid in the first n_hash_layers, else the top-k of
// score + bias — weighted by the renormalised scores times route_scale; plus one shared expert.
// Experts are SwiGLU with FP8-quantised inputs; routed experts clamp at swiglu_limit.
#pragma once

#include <cstdint>
#include <string>

#include "engine/forward/compute.h"
#include "engine/forward/model_weights.h"
#include "engine/kernels/op_shapes.h"

namespace dsagent::engine::forward {

// The router's score function and shape (kernels/op_shapes.h; the router is Ops::MoeRoute).
using kernels::RouterShape;
using kernels::ScoreFunc;
// The config's scoring_func name as a ScoreFunc.
ScoreFunc ScoreFuncOf(const std::string& name);

// x [rows, dim] (ffn_norm output, bf16 values), tokens [rows] the input ids (hash routing).
// Writes out [rows, dim] (bf16).
void MoeForward(const MoeWeights& w, const ModelConfig& config, const float* x,
                const int32_t* tokens, int64_t rows, float* out, const Compute& cx);

// Routed experts on inputs already FP8-quantised (act_quant per 128 of the ffn_norm output):
// out [n, dim], row i = expert ids[i]'s output on xq's row rows[i] (rows null: row 0, one token's
// slots) with routing weight weights[i] (w2 . act_quant(bf16(weight * silu(g) * u)), clamped at
// swiglu_limit), bf16 values — the bits MoeForward gives that slot before the combine; an id
// outside the experts gives zeros, as there. Each expert runs once over all its slots' rows, as
// in MoeForward (the same bits as one row at a time: the products are row-independent). For the
// GPU's expert offload (kernels/cuda/moe_step.h): the experts kept in host memory, computed by
// the CPU kernels while the device computes its own — a decode step's slots, or a prompt chunk's.
// The calling thread keeps the call's buffers (up to 128 MiB each) for its next call: a prompt's
// chunks call it once per layer.
void RoutedExpertsForward(const MoeWeights& w, const ModelConfig& config, const float* xq,
                          const int64_t* rows, const int32_t* ids, const float* weights, int64_t n,
                          float* out, const Compute& cx);

}  // namespace dsagent::engine::forward
