// Manifold-constrained hyper-connections (mHC): each token carries hc residual streams
// h [hc, dim] (bf16 values). A sub-layer reads a weighted sum of the streams (hc_pre) and writes
// back a mix of its output and the streams (hc_post); the head reads sigmoid-weighted streams
// (hc_head). Reference: model.py Block.hc_pre/hc_post, ParallelHead.hc_head, kernel.py
// hc_split_sinkhorn. All mixing math is fp32 (reductions evaluated in double, rounded once).
#pragma once

#include <cstdint>

#include "engine/forward/model_weights.h"
#include "engine/forward/compute.h"

namespace dsagent::engine::forward {

struct HcShape {
  int64_t hc = 4;   // streams
  int64_t dim = 0;  // hidden size
  int sinkhorn_iters = 20;
  float hc_eps = 1e-6f;
  float norm_eps = 1e-6f;
};

// The mixing logits from the products fn . x_flat [rows, m] (x_flat = a token's hc*dim streams h),
// in place: each row times rsqrt(mean(x_flat^2) + eps) (squares in fp32, summed in double).
void ScaleMixes(const float* h, int64_t rows, int64_t m, const HcShape& s, float* mixes);

// One token's y [dim] = bf16(fp32(sum_j fp32(weight_j * h_j))) over the hc streams h [hc, dim].
void WeightedStreamSum(const float* h, const float* weight, const HcShape& s, float* y);

// Splits 24 (= (2+hc)*hc) mixing logits into pre [hc], post [hc] and the Sinkhorn-normalised
// comb [hc, hc] (row j = from stream j, column k = to stream k).
void SinkhornSplit(const float* mixes, const float* scale, const float* base, const HcShape& s,
                   float* pre, float* post, float* comb);

// For each of `rows` tokens: y [dim] (bf16) = sum_j pre_j h_j, and the post [hc] and comb
// [hc, hc] that HcPost needs: fn . h, ScaleMixes, SinkhornSplit, WeightedStreamSum.
// (The CUDA kernels' twin after the product: kernels/cuda/ops.h HcPre; HcPost's: HcPost.)
void HcPre(const float* h, int64_t rows, const HcWeights& w, const HcShape& s, float* y,
           float* post, float* comb, const Compute& cx);

// out [rows, hc, dim] (bf16): out_k = post_k * f + sum_j comb_jk * h_j. `out` may alias `h`.
void HcPost(const float* f, const float* h, const float* post, const float* comb, int64_t rows,
            const HcShape& s, float* out);

// The head's reduction: y [rows, dim] (bf16) = sum_j (sigmoid(m_j*scale + base_j) + eps) h_j.
void HcHead(const float* h, int64_t rows, const HcWeights& w, const HcShape& s, float* y,
            const Compute& cx);

}  // namespace dsagent::engine::forward
