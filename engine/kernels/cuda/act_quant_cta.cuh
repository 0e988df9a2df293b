// The act_quant of one row by one CTA, as a device function: the tail of kernels that write a row
// the next op quantises (HcPreNorm's normalised input, RmsNormQuant's, the vector steps'), so that
// the quantisation needs no launch of its own. The bits are ActQuantKernel's (elementwise_ops.cu):
// the block's amax is a max (the same in any order, from 0 as there), then the block scale and
// the rounding of its format.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/warp_butterfly.cuh"

namespace dsagent::engine::kernels::cuda {

// One block of 32 * kPerLane values held by a warp, lane l holding values l + 32 u, quantised in
// place: their amax by shuffles (a max, from 0: the same in any order), then the block scale and
// the rounding of its format (ActQuantKernel's bits). Every lane of the warp calls it. The one
// copy of the block's quantisation for the kernels that end in one (this file's row, the
// register-tiled kernel's epilogues in matvec_gemm.cu).
template <int kPerLane>
__device__ __forceinline__ void ActQuantWarpBlock(float (&v)[kPerLane], bool fp4) {
  float amax = 0.0f;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) amax = fmaxf(amax, fabsf(v[u]));
  amax = XorButterfly<32>(amax, ShuffleFmax{});
  const float scale = fp4 ? Fp4BlockScale(amax) : Fp8BlockScale(amax);
#pragma unroll
  for (int u = 0; u < kPerLane; ++u)
    v[u] = fp4 ? QuantizeE2M1(v[u], scale) : QuantizeE4M3(v[u], scale);
}

// q = act_quant(x) in blocks of kBlock (32, 64 or 128) for a row of n (n % kBlock == 0), FP4 e2m1
// or FP8 e4m3: each warp of the CTA takes blocks in turn, each lane kBlock / 32 values of a
// block (ActQuantWarpBlock). q may be x: a block is one warp's, and its lanes have read all of
// it before the shuffles that every write follows. Every thread of the CTA calls it (blockDim.x
// a multiple of 32); what the CTA wrote to x before must be behind a barrier.
template <int kBlock>
__device__ inline void ActQuantRowCta(const float* x, int64_t n, float* q, bool fp4) {
  static_assert(kBlock % 32 == 0 && kBlock <= 128, "a block is 1 to 4 values a lane");
  constexpr int kPerLane = kBlock / 32;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warps = static_cast<int>(blockDim.x) / 32;
  for (int64_t b = threadIdx.x / 32; b < n / kBlock; b += warps) {
    float v[kPerLane];
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) v[u] = x[b * kBlock + lane + 32 * u];
    ActQuantWarpBlock(v, fp4);
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) q[b * kBlock + lane + 32 * u] = v[u];
  }
}

// The FP8 act_quant per 128 before an FP8 product.
__device__ inline void ActQuantFp8RowCta(const float* x, int64_t n, float* q) {
  ActQuantRowCta<128>(x, n, q, /*fp4=*/false);
}

}  // namespace dsagent::engine::kernels::cuda
