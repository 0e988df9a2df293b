// RmsNorm of one row by one CTA of kThreads threads, as a device function: RmsNormKernel's body,
// and the tail of the kernels that fuse a norm after what writes its input (HcPreNorm), so that
// both give the same bits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// yr = bf16(w * (xr * rsqrt(mean(xr^2) + eps))) for a row of n: the sum of squares (fp32
// squares, summed in double by the CTA's threads in turn, then a tree over `part`, kThreads
// doubles of shared memory), then the scaled row. yr may be xr. Every thread of the CTA calls it;
// what the CTA wrote to xr before must be behind a barrier.
template <int kThreads>
__device__ void RmsNormRowCta(const float* xr, int64_t n, const float* w, float eps, float* yr,
                              double* part) {
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    ss += static_cast<double>(xr[i] * xr[i]);
  }
  part[threadIdx.x] = ss;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  const float var = static_cast<float>(part[0] / static_cast<double>(n));
  const float r = RsqrtF(var + eps);
  __syncthreads();  // everyone has read part[0] before y (maybe x) is written
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = RoundBf16(w[i] * (xr[i] * r));
}

}  // namespace dsagent::engine::kernels::cuda
