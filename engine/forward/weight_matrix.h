// WeightMatrix: a 2-D weight [rows, cols] as the checkpoint stores it — BF16, F32, FP8 e4m3 with
// an e8m0 scale per 128x128 block, or FP4 e2m1 packed two per byte (low nibble = even column) with
// an e8m0 scale per 32 columns. It points into the memory-mapped checkpoint and never holds a
// dequantised copy; rows are dequantised on the fly (exactly: every stored value times its
// power-of-two scale is representable in float).
//
// A plain view: cheap to copy, valid while the Checkpoint that owns the mapping lives.
// Thread-safe (read-only).
#pragma once

#include <cstdint>
#include <string>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/ops.h"
#include "engine/kernels/weight_format.h"

namespace dsagent::engine::forward {

using WeightFormat = kernels::WeightFormat;

struct WeightMatrix {
  std::string name;  // checkpoint tensor name, for messages
  WeightFormat format = WeightFormat::kBF16;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  const uint8_t* scale = nullptr;  // FP8: [ceil(rows/128), ceil(cols/128)]; FP4: [rows, cols/32]
  int64_t scale_cols = 0;

  bool empty() const { return data == nullptr; }
  // The view the CPU kernels read (engine/kernels/cpu/weight_dot.h).
  kernels::WeightRows rows_view() const { return {format, data, scale, cols, scale_cols}; }
  // The view the ops take (kernels/ops.h WeightProduct).
  kernels::WeightView view() const { return {format, data, scale, rows, cols, scale_cols}; }
  // Writes the `cols` values of row r (0 <= r < rows) to out.
  void DequantRow(int64_t r, float* out) const;
  // Values of columns [col_begin, col_end) of row r.
  void DequantRowRange(int64_t r, int64_t col_begin, int64_t col_end, float* out) const;
};

}  // namespace dsagent::engine::forward
