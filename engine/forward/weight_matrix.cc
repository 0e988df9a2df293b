#include "engine/forward/weight_matrix.h"

#include "engine/kernels/cpu/weight_dequant.h"

namespace dsagent::engine::forward {

void WeightMatrix::DequantRow(int64_t r, float* out) const { DequantRowRange(r, 0, cols, out); }

void WeightMatrix::DequantRowRange(int64_t r, int64_t col_begin, int64_t col_end,
                                   float* out) const {
  kernels::cpu::DequantRowRange(rows_view(), r, col_begin, col_end, out);
}

}  // namespace dsagent::engine::forward
