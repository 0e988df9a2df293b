#include "engine/kernels/cuda/weight_upload.h"

namespace dsagent::engine::kernels::cuda {

Expected<WeightUploadLayout, std::string> UploadLayout(WeightFormat format, int64_t rows,
                                                       int64_t cols) {
  const std::string shape = "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
  if (rows <= 0 || cols <= 0) return MakeUnexpected("weight shape " + shape + " is empty");
  WeightUploadLayout l;
  switch (format) {
    case WeightFormat::kBF16:
      l.data_bytes = rows * cols * 2;
      break;
    case WeightFormat::kF32:
      l.data_bytes = rows * cols * 4;
      break;
    case WeightFormat::kFP8:
      l.data_bytes = rows * cols;
      l.scale_rows = (rows + 127) / 128;
      l.scale_cols = (cols + 127) / 128;
      break;
    case WeightFormat::kFP4:
      if (cols % 32 != 0) {
        return MakeUnexpected("FP4 weight " + shape +
                              ": columns must be a multiple of 32 (one e8m0 scale per 32)");
      }
      l.data_bytes = rows * cols / 2;
      l.scale_rows = rows;
      l.scale_cols = cols / 32;
      break;
  }
  return l;
}

}  // namespace dsagent::engine::kernels::cuda
