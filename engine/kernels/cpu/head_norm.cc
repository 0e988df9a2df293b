#include "engine/kernels/cpu/head_norm.h"

#include <cmath>

#include "engine/kernels/number_formats.h"

namespace dsagent::engine::kernels::cpu {

void HeadRmsNormBf16(float* q, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += RoundBf16(q[i] * q[i]);
  const float mean = RoundBf16(sum / static_cast<double>(n));
  const float var = RoundBf16(mean + RoundBf16(eps));
  const float r = RoundBf16(1.0 / std::sqrt(static_cast<double>(var)));
  for (int64_t i = 0; i < n; ++i) q[i] = RoundBf16(q[i] * r);
}

}  // namespace dsagent::engine::kernels::cpu
