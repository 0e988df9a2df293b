// The CPU kernel of the query heads' weightless per-head RMSNorm (Ops::HeadRmsNormBf16,
// kernels/ops.h; the CUDA kernel's twin: kernels/cuda/attention_ops.h HeadRmsNorm).
//
// Thread-safety: a pure function over caller-owned memory.
#pragma once

#include <cstdint>

namespace dsagent::engine::kernels::cpu {

// The reference's weightless per-head normalisation of n values in place, all in bf16:
// q *= rsqrt(mean(q^2) + eps) with q^2, the mean, the sum and the rsqrt each rounded to bf16.
void HeadRmsNormBf16(float* q, int64_t n, float eps);

}  // namespace dsagent::engine::kernels::cpu
