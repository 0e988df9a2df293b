#include "engine/kernels/number_formats.h"

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
  if (std::isnan(v)) return v;
  const double a = std::fabs(static_cast<double>(v));
  if (a >= kFp8Max) return v > 0 ? kFp8Max : -kFp8Max;
  double quantum = 0x1p-9;  // subnormal spacing (normal range starts at 2^-6)
  if (a >= 0x1p-6) {
    int e = 0;
    std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
    quantum = std::ldexp(1.0, e - 1 - 3);
  }
  const double r = RoundToQuantum(static_cast<double>(v), quantum);
  return static_cast<float>(std::fmax(-kFp8Max, std::fmin(kFp8Max, r)));
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
