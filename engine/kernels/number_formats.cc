#include "engine/kernels/number_formats.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace dsagent::engine::kernels {
namespace {

// Rounds `v` to a multiple of `quantum` (a power of two), ties to even. Exact: dividing and
// multiplying by a power of two does not round.
inline double RoundToQuantum(double v, double quantum) {
  return std::nearbyint(v / quantum) * quantum;
}

}  // namespace

float RoundFp8E4M3(float v) {
  // The e4m3 quantum at v is 2^q, q = max(floor(log2 |v|) - 3, -9) (the subnormal spacing below
  // 2^-6). Adding c = 1.5 * 2^(q + 23) puts the sum in [2^(q + 23), 2^(q + 24)), where the float
  // spacing is 2^q, so the addition rounds v to a multiple of 2^q, ties to even (c / 2^q is even);
  // subtracting c is exact. A zero result takes v's sign, as nearbyint's does. This runs once per
  // activation value before every FP8-weight product (act_quant), so it avoids frexp/ldexp; the
  // tests compare it with the frexp form (nearbyint(v / 2^q) * 2^q in double) on millions of
  // values, ties and boundaries included.
  const uint32_t bits = std::bit_cast<uint32_t>(v);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return v;  // NaN
  if (magnitude >= std::bit_cast<uint32_t>(kFp8Max)) return (bits >> 31) ? -kFp8Max : kFp8Max;
  const int exponent = static_cast<int>(magnitude >> 23) - 127;  // -127 for zeros/subnormals
  const int q = exponent - 3 < -9 ? -9 : exponent - 3;
  const float c = std::bit_cast<float>(static_cast<uint32_t>(q + 23 + 127) << 23) * 1.5f;
  const float r = std::copysign((v + c) - c, v);  // IEEE: no -ffast-math here, never folded
  // r is not NaN here, so plain comparisons clamp as fmax/fmin would (those are library calls at
  // this build's baseline: ~1.4% of a fast prefill's samples with the amax loop's, perf).
  return r > kFp8Max ? kFp8Max : (r < -kFp8Max ? -kFp8Max : r);
}

float Fp8E4M3ToFloat(uint8_t byte) {
  const int sign = byte >> 7, exponent = (byte >> 3) & 0xf, mantissa = byte & 7;
  float m;
  if (exponent == 0xf && mantissa == 7) {
    m = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    m = std::ldexp(static_cast<float>(mantissa), -9);
  } else {
    m = std::ldexp(static_cast<float>(8 + mantissa), exponent - 7 - 3);
  }
  return sign ? -m : m;
}

uint8_t Fp8E4M3Byte(float v) {
  if (std::isnan(v)) return 0x7f;
  const float r = RoundFp8E4M3(v);
  const int sign = std::signbit(r) ? 0x80 : 0;
  const double a = std::fabs(static_cast<double>(r));
  if (a < 0x1p-6) return static_cast<uint8_t>(sign | static_cast<int>(a * 512));  // m * 2^-9
  int e = 0;
  std::frexp(a, &e);  // a = (8 + m) * 2^(e - 4), biased exponent e - 1 + 7
  const int mantissa = static_cast<int>(std::ldexp(a, 4 - e)) - 8;
  return static_cast<uint8_t>(sign | ((e + 6) << 3) | mantissa);
}

uint8_t Fp4E2M1Nibble(float v) {
  const float r = RoundFp4E2M1(v);
  const float a = std::fabs(r);
  // Magnitudes 0, .5, 1, 1.5 | 2, 3 | 4, 6 -> indices 0..3 | 4, 5 | 6, 7.
  const int index = static_cast<int>(a < 2 ? a * 2 : a < 4 ? a + 2 : a / 2 + 4);
  return static_cast<uint8_t>((std::signbit(r) ? 8 : 0) | index);
}

float RoundFp4E2M1(float v) {
  if (std::isnan(v)) return v;
  const double a = std::fabs(static_cast<double>(v));
  if (a >= kFp4Max) return v > 0 ? kFp4Max : -kFp4Max;
  const double quantum = a < 2.0 ? 0.5 : a < 4.0 ? 1.0 : 2.0;
  return static_cast<float>(RoundToQuantum(static_cast<double>(v), quantum));
}

}  // namespace dsagent::engine::kernels
