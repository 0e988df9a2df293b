#include "engine/kernels/cpu/quant_ops.h"

#include <cmath>

#include "engine/kernels/cpu/workspace_slots.h"
#include "engine/kernels/number_formats.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::kernels::cpu {
namespace {

template <float (*Scale)(float), float (*Round)(float)>
void QuantizeBlocks(float* x, int64_t n, int64_t block) {
  for (int64_t b = 0; b < n; b += block) {
    float amax = 0.0f;
    // As fmax would: a NaN compares false and is skipped (amax itself starts at 0 and stays a
    // number); a comparison instead of fmax's library call.
    for (int64_t i = b; i < b + block; ++i) {
      const float a = std::fabs(x[i]);
      if (a > amax) amax = a;
    }
    const float s = Scale(amax);
    for (int64_t i = b; i < b + block; ++i) x[i] = Round(x[i] / s) * s;
  }
}

}  // namespace

void QuantizeFp8Blocks(float* x, int64_t n, int64_t block) {
  QuantizeBlocks<Fp8BlockScale, RoundFp8E4M3>(x, n, block);
}

void QuantizeFp4Blocks(float* x, int64_t n, int64_t block) {
  QuantizeBlocks<Fp4BlockScale, RoundFp4E2M1>(x, n, block);
}

void HadamardRotateBf16(float* x, int64_t n) {
  // Butterflies in double: sums of n bf16 values are exact there.
  double* v = ThreadWorkspace().Get<double>(kHadamardValues, n);
  for (int64_t i = 0; i < n; ++i) v[i] = x[i];
  for (int64_t h = 1; h < n; h *= 2) {
    for (int64_t i = 0; i < n; i += 2 * h) {
      for (int64_t j = i; j < i + h; ++j) {
        const double a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
    }
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = RoundBf16(v[i] * scale);
}

}  // namespace dsagent::engine::kernels::cpu
