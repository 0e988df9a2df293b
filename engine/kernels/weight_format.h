// How a 2-D weight is stored in a V4 checkpoint.
#pragma once

namespace dsagent::engine::kernels {

enum class WeightFormat {
  kBF16,
  kF32,
  kFP8,  // e4m3 bytes, one e8m0 scale per 128x128 block: scale [ceil(rows/128), ceil(cols/128)]
  kFP4,  // e2m1 packed two per byte (low nibble = even column), one e8m0 scale per 32 columns of a
         // row: scale [rows, cols/32]
};

}  // namespace dsagent::engine::kernels
