// The CPU kernels of the MoE FFN's elementwise steps (Ops::SwiGlu and Ops::CombineExperts,
// kernels/ops.h; the CUDA kernels' twins: kernels/cuda/ops.h SwiGlu, kernels/cuda/moe_ops.h
// MoeCombine). Routing stays in forward/moe.h.
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cstdint>

namespace dsagent::engine::kernels::cpu {

// The expert activation in place on g [n, inter]: g <- bf16(row_weight[t] * (silu(g) * u)), with
// u clamped to [-limit, limit] and g from above when limit > 0; row_weight may be null (weight 1).
void SwiGluInPlace(float* g, const float* u, int64_t n, int64_t inter, const float* row_weight,
                   float limit);

// out [rows, dim] = bf16(sum of routed [rows, k, dim] over the row's distinct experts in ascending
// id order, in fp32, + shared [rows, dim]): an expert chosen twice counts once (the reference's
// index_put).
void CombineExperts(const float* routed, const float* shared, const int32_t* ids, int64_t rows,
                    int64_t k, int64_t dim, float* out);

}  // namespace dsagent::engine::kernels::cpu
