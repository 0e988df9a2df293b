// RoPE of one vector by one CTA, as a device function: the step inside kernels that rotate the
// vector they hold (the vector steps, the attention's combine), with RopeKernel's arithmetic per
// pair (device_math.h RopePair), so the bits are RopeRotate's.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// The pairs (r[2i], r[2i + 1]) for i < half rotated by the angle pos * freqs[i] (back, with
// `inverse`), the CTA's threads taking pairs in turn. What the CTA wrote to r before must be
// behind a barrier.
__device__ inline void RopeVectorCta(float* r, int64_t half, const float* freqs, int64_t pos,
                                     bool inverse) {
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    RopePair(r[2 * i], r[2 * i + 1], static_cast<float>(pos) * freqs[i], inverse);
  }
}

}  // namespace dsagent::engine::kernels::cuda
