// The CPU kernel of RMSNorm with a weight (Ops::RmsNormBf16, kernels/ops.h; the CUDA kernel's
// twin: kernels/cuda/ops.h RmsNorm).
//
// Thread-safety: a pure function over caller-owned memory.
#pragma once

#include <cstdint>

namespace dsagent::engine::kernels::cpu {

// The reference's RMSNorm on each of `rows` rows of n values: y = bf16(w * (x * r)) with
// r = fl32(1 / sqrt(fl32(mean(x^2)) + eps)), the squares in fp32 summed in double, the products
// in fp32. y may be x.
void RmsNormBf16(const float* x, int64_t rows, int64_t n, const float* w, float eps, float* y);

}  // namespace dsagent::engine::kernels::cpu
