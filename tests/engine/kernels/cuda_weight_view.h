// A random test weight (random_weights.h) as the CUDA kernels' host-compiled arithmetic sees it
// (device_math.h WeightView), for the device-free tests of that arithmetic.
#pragma once

#include "engine/kernels/cuda/device_math.h"
#include "tests/engine/kernels/random_weights.h"

namespace dsagent::engine::kernels::testing {

inline cuda::WeightKind CudaKindOf(WeightFormat f) {
  switch (f) {
    case WeightFormat::kBF16:
      return cuda::WeightKind::kBF16;
    case WeightFormat::kF32:
      return cuda::WeightKind::kF32;
    case WeightFormat::kFP8:
      return cuda::WeightKind::kFP8;
    case WeightFormat::kFP4:
      return cuda::WeightKind::kFP4;
  }
  return cuda::WeightKind::kBF16;
}

inline cuda::WeightView CudaViewOf(const RandomWeight& w) {
  return {CudaKindOf(w.matrix.format), w.data.data(), w.scale.empty() ? nullptr : w.scale.data(),
          w.matrix.cols, w.matrix.scale_cols};
}

}  // namespace dsagent::engine::kernels::testing
