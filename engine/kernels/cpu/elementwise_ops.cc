#include "engine/kernels/cpu/elementwise_ops.h"

#include "engine/kernels/number_formats.h"

namespace dsagent::engine::kernels::cpu {

void ScaleBf16(float* x, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) x[i] = RoundBf16(x[i] * scale);
}

void RoundToBf16(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = RoundBf16(x[i]);
}

void AddBroadcastBf16(const float* x, int64_t x_stride, int64_t rows, int64_t cols, int64_t groups,
                      float* y, int64_t y_stride) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    for (int64_t g = 0; g < groups; ++g) {
      float* yg = y + r * y_stride + g * cols;
      for (int64_t c = 0; c < cols; ++c) yg[c] = RoundBf16(xr[c] + yg[c]);
    }
  }
}

void ToBf16Bits(const float* x, int64_t n, uint16_t* bits) {
  for (int64_t i = 0; i < n; ++i) bits[i] = FloatToBf16Bits(x[i]);
}

}  // namespace dsagent::engine::kernels::cpu
