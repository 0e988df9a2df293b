// The CPU kernels of the manifold-constrained hyper-connections' mixing (Ops::HcPre, HcPost and
// HcHead, kernels/ops.h; the CUDA kernels' twins: kernels/cuda/mixing_ops.h). Each token carries
// hc residual streams h [hc, dim] (bf16 values); the mixing logits are the products fn . h (the
// caller's, by a weight product). Reference: model.py Block.hc_pre/hc_post,
// ParallelHead.hc_head, kernel.py hc_split_sinkhorn. All mixing math is fp32 (reductions
// evaluated in double, rounded once).
//
// Thread-safety: functions over caller-owned memory; their scratch is the calling thread's
// Workspace (workspace_slots.h).
#pragma once

#include <cstdint>

#include "engine/kernels/op_shapes.h"

namespace dsagent::engine::kernels::cpu {

// The mixing logits from the products fn . x_flat [rows, m] (x_flat = a token's hc*dim streams h),
// in place: each row times fl32(1 / sqrt(fl32(mean(x_flat^2)) + eps)) (squares in fp32, summed in
// double, eps = norm_eps).
void ScaleMixes(const float* h, int64_t rows, int64_t m, const HcShape& s, float* mixes);

// One token's y [dim] = bf16(fp32(sum_j fp32(weight_j * h_j))) over the hc streams h [hc, dim],
// the sum in double in stream order.
void WeightedStreamSum(const float* h, const float* weight, const HcShape& s, float* y);

// Splits (2+hc)*hc mixing logits into pre [hc] = sigmoid(m_j*scale0 + base_j) + eps, post [hc] =
// 2 sigmoid(m_{hc+j}*scale1 + base_{hc+j}) and the Sinkhorn-normalised comb [hc, hc] (row j = from
// stream j, column k = to stream k): a row softmax (exp in double, rounded once) + eps, then
// columns, then sinkhorn_iters - 1 times rows and columns, each divided by fl32(sum in double) +
// eps.
void SinkhornSplit(const float* mixes, const float* scale, const float* base, const HcShape& s,
                   float* pre, float* post, float* comb);

// out [rows, hc, dim] (bf16): out_k = bf16(post_k * f + fp32(sum_j fp32(comb_jk * h_j))), the sum
// in double in stream order. `out` may alias `h`.
void HcPost(const float* f, const float* h, const float* post, const float* comb, int64_t rows,
            const HcShape& s, float* out);

// The head's reduction after ScaleMixes: y [rows, dim] = WeightedStreamSum with weights
// sigmoid(m_j*scale0 + base_j) + eps, mixes [rows, hc].
void HcHeadSum(const float* h, const float* mixes, int64_t rows, const float* scale,
               const float* base, const HcShape& s, float* y);

}  // namespace dsagent::engine::kernels::cpu
