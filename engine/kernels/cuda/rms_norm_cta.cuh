// RmsNorm of one row by one CTA with the bits of kThreads threads, as a device function:
// RmsNormKernel's body, and the tail of the kernels that fuse a norm after what writes its input
// (HcPreNorm), so that both give the same bits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// The threads whose bits every RmsNorm of the engine gives (RmsNormKernel's CTA).
constexpr int kRmsNormThreads = 256;

// yr = bf16(w * (xr * rsqrt(mean(xr^2) + eps))) for a row of n: the sum of squares (fp32
// squares, summed in double by kThreads threads in turn, then a tree over `part`, kThreads
// doubles of shared memory), then the scaled row. yr may be xr. Every thread of the CTA calls it;
// what the CTA wrote to xr before must be behind a barrier. The bits are those of kThreads
// threads whatever the CTA's size: with more, the rest only wait at the barriers (a last-CTA
// epilogue in a CTA sized for the product before it); with fewer, each thread takes the
// partials of several in turn.
template <int kThreads>
__device__ void RmsNormRowCta(const float* xr, int64_t n, const float* w, float eps, float* yr,
                              double* part) {
  for (int v = threadIdx.x; v < kThreads; v += blockDim.x) {
    double ss = 0.0;
    for (int64_t i = v; i < n; i += kThreads) ss += static_cast<double>(xr[i] * xr[i]);
    part[v] = ss;
  }
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    for (int v = threadIdx.x; v < s; v += blockDim.x) part[v] += part[v + s];
    __syncthreads();
  }
  const float var = static_cast<float>(part[0] / static_cast<double>(n));
  const float r = RsqrtF(var + eps);
  __syncthreads();  // everyone has read part[0] before y (maybe x) is written
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = RoundBf16(w[i] * (xr[i] * r));
}

}  // namespace dsagent::engine::kernels::cuda
