#include "engine/kernels/cpu/rms_norm.h"

#include "engine/kernels/number_formats.h"

namespace dsagent::engine::kernels::cpu {

void RmsNormBf16(const float* x, int64_t rows, int64_t n, const float* w, float eps, float* y) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xr = x + t * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i] * xr[i]);
    const float var = static_cast<float>(ss / static_cast<double>(n));
    const float r = RsqrtF(var + eps);
    float* yr = y + t * n;
    for (int64_t i = 0; i < n; ++i) yr[i] = RoundBf16(w[i] * (xr[i] * r));
  }
}

}  // namespace dsagent::engine::kernels::cpu
