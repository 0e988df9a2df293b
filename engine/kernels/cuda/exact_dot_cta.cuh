// One weight row's exact dot by one CTA, as a device function: the body of MatVecExact's kernel
// (matvec.cu) and of the kernels that end a product of exact dots with a last-CTA epilogue
// (moe_ops.cu's gate and router). RowDotF64ByCta (device_math.h) is its host twin.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/warp_butterfly.cuh"

namespace dsagent::engine::kernels::cuda {

// dot(W[row, :], x) in double: thread t sums the exact products of columns t, t + blockDim.x, ...
// (ExactLaneDot), each warp combines its lanes by xor shuffles, and thread 0 adds the warps' sums
// in order and returns the total (the other threads return 0). The bits are RowDotF64ByCta's when
// blockDim.x is ExactMatVecThreads(w.cols). Every thread of the CTA calls it, once (a barrier).
__device__ inline double ExactRowDotCta(const WeightView& w, int64_t row, const float* x) {
  __shared__ double warp_sums[32];
  const int tid = static_cast<int>(threadIdx.x);
  double acc = ExactLaneDot(w, row, x, tid, static_cast<int>(blockDim.x));
  acc = XorSum<32>(acc);
  if ((tid & 31) == 0) warp_sums[tid / 32] = acc;
  __syncthreads();
  double total = 0;
  if (tid == 0) {
    for (int k = 0; k < static_cast<int>(blockDim.x) / 32; ++k) total += warp_sums[k];
  }
  return total;
}

}  // namespace dsagent::engine::kernels::cuda
