// The query heads' weightless RMSNorm of one vector by one CTA, as a device function: the vector
// steps' norm (vector_steps.cu) and the split attention's own copy of a head (attention_ops.cu,
// QueryPrep), so that both give HeadRmsNorm's bits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// v[i] = bf16(v[i] * r) for a vector of n bf16 values, r from the sum of the bf16 squares in
// double (exact, so the tree's order does not matter; attention_math.h HeadNormSquare and
// HeadNormFactor). A CTA of exactly kThreads threads calls it, part kThreads doubles of shared
// memory; what it wrote to v before must be behind a barrier. Each thread rewrites only the
// values it read; the caller puts a barrier after it before anyone reads v or reuses part.
template <int kThreads>
__device__ void HeadRmsNormCta(float* v, int64_t n, float eps, double* part) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) s += HeadNormSquare(v[i]);
  part[threadIdx.x] = s;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) part[threadIdx.x] += part[threadIdx.x + stride];
    __syncthreads();
  }
  const float r = HeadNormFactor(part[0], n, eps);
  for (int64_t i = threadIdx.x; i < n; i += kThreads) v[i] = RoundBf16(v[i] * r);
}

}  // namespace dsagent::engine::kernels::cuda
