// How a stored weight is laid out on the device: byte for byte as the checkpoint stores it (the
// kernels dequantise on the fly, like the CPU ones), so an upload is one copy of the data and one
// of the scales. Pure and device-free, so the layout is tested without a GPU.
#pragma once

#include <cstdint>
#include <string>

#include "common/expected.h"
#include "engine/kernels/weight_format.h"

namespace dsagent::engine::kernels::cuda {

struct WeightUploadLayout {
  int64_t data_bytes = 0;  // the stored values (FP4: two per byte)
  int64_t scale_rows = 0;  // FP8: ceil(rows/128); FP4: rows; else 0
  int64_t scale_cols = 0;  // FP8: ceil(cols/128); FP4: cols/32; else 0
  int64_t scale_bytes() const { return scale_rows * scale_cols; }
  int64_t total_bytes() const { return data_bytes + scale_bytes(); }
};

// The layout of a [rows, cols] weight, or why it cannot be stored that way (FP4 needs an even
// number of columns, a multiple of 32 for its per-32 scales; sizes must be positive).
Expected<WeightUploadLayout, std::string> UploadLayout(WeightFormat format, int64_t rows,
                                                       int64_t cols);

}  // namespace dsagent::engine::kernels::cuda
