#include <stdexcept>

#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/weight_upload.h"

namespace dsagent::engine::kernels::cuda {

DeviceWeight DeviceWeight::Upload(const WeightRows& w, int64_t rows, CudaStream& stream) {
  auto layout = UploadLayout(w.format, rows, w.cols);
  if (!layout) throw std::invalid_argument(layout.error());
  if ((w.format == WeightFormat::kFP8 || w.format == WeightFormat::kFP4) &&
      w.scale_cols != layout->scale_cols) {
    throw std::invalid_argument("weight scale has " + std::to_string(w.scale_cols) +
                                " columns, its shape needs " + std::to_string(layout->scale_cols));
  }
  DeviceWeight d;
  d.format = w.format;
  d.rows = rows;
  d.cols = w.cols;
  d.scale_cols = layout->scale_cols;
  d.data = DeviceBuffer(static_cast<size_t>(layout->data_bytes));
  d.data.Upload(w.data, static_cast<size_t>(layout->data_bytes), stream);
  if (layout->scale_bytes() > 0) {
    d.scale = DeviceBuffer(static_cast<size_t>(layout->scale_bytes()));
    d.scale.Upload(w.scale, static_cast<size_t>(layout->scale_bytes()), stream);
  }
  stream.Synchronize();
  return d;
}

}  // namespace dsagent::engine::kernels::cuda
