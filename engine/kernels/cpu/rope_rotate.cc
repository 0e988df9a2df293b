#include "engine/kernels/cpu/rope_rotate.h"

#include <cmath>
#include <vector>

#include "engine/kernels/number_formats.h"

namespace dsagent::engine::kernels::cpu {

void RopeRotate(float* x, int64_t count, int64_t stride, int64_t width,
                std::span<const float> freqs, int64_t pos, bool inverse) {
  const int64_t half = static_cast<int64_t>(freqs.size()), rope_dims = 2 * half;
  double cs[256], sn[256];
  std::vector<double> big_c, big_s;
  double* c = cs;
  double* s = sn;
  if (half > 256) {
    big_c.resize(static_cast<size_t>(half));
    big_s.resize(static_cast<size_t>(half));
    c = big_c.data();
    s = big_s.data();
  }
  for (int64_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(pos) * freqs[static_cast<size_t>(i)];
    c[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
    s[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    if (inverse) s[i] = -s[i];
  }
  for (int64_t v = 0; v < count; ++v) {
    float* r = x + v * stride + (width - rope_dims);
    for (int64_t i = 0; i < half; ++i) {
      const double a = r[2 * i], b = r[2 * i + 1];
      // The reference multiplies in complex64 and copies the result into the bf16 tensor: two
      // roundings (fp32, then bf16). Rounding once from double differs when the product lies
      // within half an fp32 ulp of a bf16 tie — rare, but it flips downstream FP8 roundings.
      r[2 * i] = RoundBf16(static_cast<float>(a * c[i] - b * s[i]));
      r[2 * i + 1] = RoundBf16(static_cast<float>(a * s[i] + b * c[i]));
    }
  }
}

}  // namespace dsagent::engine::kernels::cpu
