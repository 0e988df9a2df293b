#include <stdexcept>
#include <string>

#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/weight_upload.h"

namespace dsagent::engine::kernels::cuda {

DeviceWeight DeviceWeight::Allocate(WeightFormat format, int64_t rows, int64_t cols) {
  auto layout = UploadLayout(format, rows, cols);
  if (!layout) throw std::invalid_argument(layout.error());
  DeviceWeight d;
  d.format = format;
  d.rows = rows;
  d.cols = cols;
  d.scale_cols = layout->scale_cols;
  d.data = DeviceBuffer(static_cast<size_t>(layout->data_bytes));
  if (layout->scale_bytes() > 0) d.scale = DeviceBuffer(static_cast<size_t>(layout->scale_bytes()));
  return d;
}

void DeviceWeight::Fill(const WeightRows& w, CudaStream& stream) {
  if (w.format != format || w.cols != cols) {
    throw std::invalid_argument("a weight of format " + std::to_string(static_cast<int>(w.format)) +
                                " and " + std::to_string(w.cols) + " columns into one of format " +
                                std::to_string(static_cast<int>(format)) + " and " +
                                std::to_string(cols));
  }
  if ((format == WeightFormat::kFP8 || format == WeightFormat::kFP4) && w.scale_cols != scale_cols) {
    throw std::invalid_argument("weight scale has " + std::to_string(w.scale_cols) +
                                " columns, its shape needs " + std::to_string(scale_cols));
  }
  data.Upload(w.data, data.bytes(), stream);
  if (scale.bytes() > 0) scale.Upload(w.scale, scale.bytes(), stream);
}

DeviceWeight DeviceWeight::Upload(const WeightRows& w, int64_t rows, CudaStream& stream) {
  DeviceWeight d = Allocate(w.format, rows, w.cols);
  d.Fill(w, stream);
  stream.Synchronize();
  return d;
}

}  // namespace dsagent::engine::kernels::cuda
