// Weight bytes brought into L2 ahead of their use: PTX prefetch.global.L2, a request that binds no
// register and returns at once. A kernel launched as a programmatic dependent launch
// (kernel_launch.cuh) issues it before its wait for the kernel ahead of it, so that the weight
// streams from memory while that kernel finishes. Nothing else changes: the same loads follow,
// the same bits. The CPU emulator checks that the bytes lie inside one allocation; other host
// compilation does nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// Bytes [begin, begin + bytes), a 128-byte line per request, shared by `threads` threads of which
// this is `tid`.
__device__ inline void PrefetchL2(const void* begin, int64_t bytes, int tid, int threads) {
#if defined(__CUDA_ARCH__)
  const char* p = static_cast<const char*>(begin);
  for (int64_t off = int64_t{tid} * 128; off < bytes; off += int64_t{threads} * 128) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p + off));
  }
#elif defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  if (tid == 0) ::dsagent_emu::CheckPrefetch(begin, static_cast<size_t>(bytes));
  (void)threads;
#else
  (void)begin, (void)bytes, (void)tid, (void)threads;
#endif
}

// Rows [row0, row0 + rows) of a stored weight: their values and their scales.
__device__ inline void PrefetchWeightRowsL2(const WeightView& w, int64_t row0, int64_t rows,
                                            int tid, int threads) {
  switch (w.kind) {
    case WeightKind::kF32:
      PrefetchL2(w.data + row0 * w.cols * 4, rows * w.cols * 4, tid, threads);
      break;
    case WeightKind::kBF16:
      PrefetchL2(w.data + row0 * w.cols * 2, rows * w.cols * 2, tid, threads);
      break;
    case WeightKind::kFP8: {
      PrefetchL2(w.data + row0 * w.cols, rows * w.cols, tid, threads);
      const int64_t b0 = row0 / 128, b1 = (row0 + rows - 1) / 128;  // 128-row scale blocks
      PrefetchL2(w.scale + b0 * w.scale_cols, (b1 - b0 + 1) * w.scale_cols, tid, threads);
      break;
    }
    case WeightKind::kFP4:
      PrefetchL2(w.data + row0 * (w.cols / 2), rows * (w.cols / 2), tid, threads);
      PrefetchL2(w.scale + row0 * w.scale_cols, rows * w.scale_cols, tid, threads);
      break;
  }
}

}  // namespace dsagent::engine::kernels::cuda
