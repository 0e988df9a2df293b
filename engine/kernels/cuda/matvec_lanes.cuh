// One weight row's `fast` dot by the 16 threads of a half-warp, thread `lane` being the
// contract's lane (kernels/cpu/weight_dot_f32.h): block[lane] in fp32, lanes[lane] in double
// across the row's 128-column blocks, lane 0 also keeping the tail; then the lanes combined by
// shuffles in the contract's order ((i, i+8), (i, i+4), (0, 2) (1, 3), (0, 1)). Device code for
// matvec.cu's kernel and matvec_tiled.cu's columns-order fallback (nvcc only).
#pragma once

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/warp_butterfly.cuh"

namespace dsagent::engine::kernels::cuda {

// Lane 0 writes the dot to *out. Every thread of the warp must call this (the shuffles); threads
// of an invalid row (past the end) add zeros. pairs: the pair order (the activation is exact in
// bf16 and the weight is not F32), else the columns order.
__device__ __forceinline__ void MatVecLanesRow(const WeightView& w, int64_t row, bool valid,
                                               const float* xt, float* out, bool round_bf16,
                                               bool pairs, int lane) {
  double acc = 0.0;
  float tail = 0.0f;
  if (valid) {
    for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
      const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
      if (pairs) {
        acc += static_cast<double>(BlockLanePairSum(w, row, c0, c1, lane, xt)) *
               BlockPairScale(w, row, c0);
        if (lane == 0) tail = BlockPairTail(w, row, c0, c1, xt, tail);
      } else {
        acc += static_cast<double>(BlockLaneSum(w, row, c0, c1, lane, xt));
        if (lane == 0) tail = BlockTail(w, row, c0, c1, xt, tail);
      }
    }
  }
  acc = XorSum<16>(acc);
  if (valid && lane == 0) {
    const float v = static_cast<float>(acc + static_cast<double>(tail));
    *out = round_bf16 ? RoundBf16(v) : v;
  }
}

}  // namespace dsagent::engine::kernels::cuda
