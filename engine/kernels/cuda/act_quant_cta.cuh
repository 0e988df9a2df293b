// The FP8 act_quant of one row by one CTA, as a device function: the tail of kernels that write a
// row the next op quantises (HcPreNorm's normalised input), so that the quantisation needs no
// launch of its own. The bits are ActQuantKernel's (elementwise_ops.cu) with block 128: the block's
// amax is a max (the same in any order, from 0 as there), then Fp8BlockScale and QuantizeE4M3.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// q = act_quant(x) in FP8 blocks of 128 for a row of n (n % 128 == 0): each warp of the CTA takes
// blocks in turn, each lane 4 values of a block, the amax by shuffles. q may not alias x. Every
// thread of the CTA calls it (blockDim.x a multiple of 32); what the CTA wrote to x before must
// be behind a barrier.
__device__ inline void ActQuantFp8RowCta(const float* x, int64_t n, float* q) {
  constexpr int kBlock = 128, kPerLane = kBlock / 32;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warps = static_cast<int>(blockDim.x) / 32;
  for (int64_t b = threadIdx.x / 32; b < n / kBlock; b += warps) {
    const float* xb = x + b * kBlock;
    float v[kPerLane];
    float amax = 0.0f;
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) {
      v[u] = xb[lane + 32 * u];
      amax = fmaxf(amax, fabsf(v[u]));
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
    }
    const float scale = Fp8BlockScale(amax);
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) q[b * kBlock + lane + 32 * u] = QuantizeE4M3(v[u], scale);
  }
}

}  // namespace dsagent::engine::kernels::cuda
