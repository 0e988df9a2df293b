// Manifold-constrained hyper-connections (mHC): each token carries hc residual streams
// h [hc, dim] (bf16 values). A sub-layer reads a weighted sum of the streams (hc_pre) and writes
// back a mix of its output and the streams (hc_post, Ops::HcPost); the head reads sigmoid-weighted
// streams (hc_head). Reference: model.py Block.hc_pre/hc_post, ParallelHead.hc_head, kernel.py
// hc_split_sinkhorn. Here: the mixing products fn . h; the mixing math is the backend's
// (Ops::HcPre / HcHead, kernels/ops.h).
#pragma once

#include <cstdint>

#include "engine/forward/compute.h"
#include "engine/forward/model_weights.h"
#include "engine/kernels/op_shapes.h"

namespace dsagent::engine::forward {

using kernels::HcShape;

// For each of `rows` tokens: y [dim] (bf16) = sum_j pre_j h_j, and the post [hc] and comb
// [hc, hc] that Ops::HcPost needs: the products fn . h (exact in both numerics modes), then
// Ops::HcPre. (The CUDA kernels' twin after the product: kernels/cuda/mixing_ops.h HcPre.)
void HcPre(const float* h, int64_t rows, const HcWeights& w, const HcShape& s, float* y,
           float* post, float* comb, const Compute& cx);

// The head's reduction: y [rows, dim] (bf16) = sum_j (sigmoid(m_j*scale + base_j) + eps) h_j.
void HcHead(const float* h, int64_t rows, const HcWeights& w, const HcShape& s, float* y,
            const Compute& cx);

}  // namespace dsagent::engine::forward
