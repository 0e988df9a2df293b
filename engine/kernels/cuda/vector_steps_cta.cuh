// The vector steps (vector_steps.h) of one vector by one CTA, as a device function: the body of
// RunVectorSteps' kernel, and the tail of a kernel that makes a vector and takes it through the
// steps in the same launch (the compressors' token step, compressor_ops.cu), so that both give the
// same bits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/act_quant_cta.cuh"
#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/head_norm_cta.cuh"
#include "engine/kernels/cuda/rms_norm_cta.cuh"
#include "engine/kernels/cuda/rope_cta.cuh"
#include "engine/kernels/cuda/vector_steps.h"

namespace dsagent::engine::kernels::cuda {

// The norms' bits are those of this many threads (rms_norm_cta.cuh, head_norm_cta.cuh).
constexpr int kVectorStepsNormThreads = 256;

// The Hadamard rotation of one vector: its n values as doubles in shared memory v, each stage's
// butterflies disjoint pairs run in parallel between barriers.
__device__ inline void HadamardCta(float* xv, int64_t n, double* v) {
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v[i] = xv[i];
  __syncthreads();
  for (int64_t h = 1; h < n; h *= 2) {
    for (int64_t k = threadIdx.x; k < n / 2; k += blockDim.x) HadamardButterfly(v, h, k);
    __syncthreads();
  }
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) xv[i] = HadamardOut(v[i], n);
}

// The steps `s` on vector v (its index: positions[v / vectors_per_position]), xv its n values,
// with a barrier between steps. part: kVectorStepsNormThreads doubles of shared memory; hadamard:
// n doubles of shared memory when s.hadamard. Every thread of the CTA calls it (a whole number of
// warps; exactly kVectorStepsNormThreads with s.head_norm); what the CTA wrote to xv before must
// be behind a barrier. The steps' switches must be uniform over the CTA.
__device__ inline void VectorStepsCta(float* xv, int64_t n, const VectorSteps& s, int64_t v,
                                      double* part, double* hadamard) {
  if (s.norm_weight != nullptr) {
    RmsNormRowCta<kVectorStepsNormThreads>(xv, n, s.norm_weight, s.eps, xv, part);
  } else if (s.head_norm) {
    HeadRmsNormCta<kVectorStepsNormThreads>(xv, n, s.eps, part);
  }
  if (s.rope_dims > 0) {
    __syncthreads();
    const int64_t pos = s.positions != nullptr
                            ? static_cast<int64_t>(s.positions[v / s.vectors_per_position])
                            : s.pos;
    RopeVectorCta(xv + (n - s.rope_dims), s.rope_dims / 2, s.freqs, pos, s.rope_inverse);
  }
  if (s.hadamard) {
    __syncthreads();
    HadamardCta(xv, n, hadamard);
  }
  if (s.quant_n > 0) {
    __syncthreads();
    const bool fp4 = s.quant_format == ActQuantFormat::kFp4;
    if (s.quant_block == 32) {
      ActQuantRowCta<32>(xv, s.quant_n, xv, fp4);
    } else if (s.quant_block == 64) {
      ActQuantRowCta<64>(xv, s.quant_n, xv, fp4);
    } else {
      ActQuantRowCta<128>(xv, s.quant_n, xv, fp4);
    }
  }
  if (s.bf16_out != nullptr || s.bf16_rows != nullptr) {
    __syncthreads();
    uint16_t* out = s.bf16_rows != nullptr
                        ? s.bf16_rows[v] + (static_cast<int64_t>(s.positions[v]) % s.bf16_ring) * n
                        : s.bf16_out + v * n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[i] = FloatToBf16Bits(xv[i]);
  }
}

}  // namespace dsagent::engine::kernels::cuda
