// Rounding helpers for the kernel tests' independent references: written from the formats'
// definitions (frexp / nearbyint on long double), not from engine/kernels/number_formats.h, so a
// reference built on them does not share the code under test.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace dsagent::engine::kernels::reference_rounding {

// The nearest value with `bits` significant bits, ties to even (the FPU's default mode).
inline long double RoundSignificant(long double v, int bits) {
  if (v == 0 || !std::isfinite(v)) return v;
  int e = 0;
  const long double m = std::frexp(v, &e);  // v = m * 2^e, |m| in [0.5, 1)
  return std::ldexp(std::nearbyint(std::ldexp(m, bits)), e - bits);
}
inline float RefBf16(long double v) { return static_cast<float>(RoundSignificant(v, 8)); }
// double -> float -> bf16 (the canonical convention's two roundings).
inline float RefBf16Twice(long double v) { return RefBf16(static_cast<float>(v)); }
inline uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }

// n normal values of standard deviation `scale`, each rounded to bf16.
inline std::vector<float> RandomBf16Values(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = RefBf16(d(rng));
  return v;
}

}  // namespace dsagent::engine::kernels::reference_rounding
