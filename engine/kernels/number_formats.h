// Scalar number formats of the V4 reference, bit-exact: bf16 round-to-nearest-even, FP8 e4m3fn,
// e8m0 scales, FP4 e2m1, and the power-of-two block scales of the reference's quantisers.
//
// Activations are held as float arrays whose values are already representable in the dtype the
// reference would hold them in (bf16 or fp32); these helpers perform the rounding at the points
// where the reference converts. All functions are pure and thread-safe.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace dsagent::engine::kernels {

// ---- bf16 -----------------------------------------------------------------------------------

inline float Bf16BitsToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// float -> bf16 bits, round to nearest even (NaN stays NaN).
inline uint16_t FloatToBf16Bits(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// The nearest bf16 value (ties to even), as a float.
inline float RoundBf16(float f) { return Bf16BitsToFloat(FloatToBf16Bits(f)); }

// A double result converted to bf16 the way the canonical convention does it (golden/v4-tiny
// README, "The canonical convention"): rounded to float first, then to bf16 — two roundings, like
// an fp32 accumulator cast to bf16. Rounding the double to bf16 in one step differs when the float
// value lands exactly on a bf16 tie.
inline float RoundBf16(double d) { return RoundBf16(static_cast<float>(d)); }

// ---- FP8 e4m3fn (1 sign, 4 exponent bits with bias 7, 3 mantissa bits, max 448, no inf) ------

constexpr float kFp8Max = 448.0f;

// The nearest e4m3fn value of `v` (ties to even), saturating to +-448. NaN stays NaN.
float RoundFp8E4M3(float v);
// Decodes one e4m3fn byte.
float Fp8E4M3ToFloat(uint8_t byte);
// Encodes: the byte of RoundFp8E4M3(v), so Fp8E4M3ToFloat(Fp8E4M3Byte(v)) == RoundFp8E4M3(v).
// NaN -> 0x7f.
uint8_t Fp8E4M3Byte(float v);

// ---- e8m0 scales: 2^(byte - 127); 0xff is NaN -----------------------------------------------

inline float E8M0ToFloat(uint8_t byte) {
  if (byte == 0xff) return std::nanf("");
  if (byte == 0) return std::ldexp(1.0f, -127);  // subnormal in float
  return std::bit_cast<float>(static_cast<uint32_t>(byte) << 23);
}

// ---- FP4 e2m1 (values 0, .5, 1, 1.5, 2, 3, 4, 6 and their negatives) --------------------------

constexpr float kFp4Max = 6.0f;

// The nearest e2m1 value of `v` (ties to even), saturating to +-6.
float RoundFp4E2M1(float v);
// Encodes: the nibble of RoundFp4E2M1(v) (NaN is not representable: callers pass finite values).
uint8_t Fp4E2M1Nibble(float v);
// Decodes one nibble: bit 3 = sign, bits 0..2 index {0, .5, 1, 1.5, 2, 3, 4, 6}.
inline float Fp4E2M1ToFloat(uint8_t nibble) {
  static constexpr float kMagnitude[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float m = kMagnitude[nibble & 7];
  return (nibble & 8) ? -m : m;
}

// ---- power-of-two block scales (the reference's ue8m0 `fast_round_scale`) ---------------------

// 2^ceil(log2(t)) for a positive normal float t, computed from its bits exactly as the kernels
// do: the exponent, plus one when the mantissa is non-zero.
inline float Pow2Ceil(float t) {
  const uint32_t bits = std::bit_cast<uint32_t>(t);
  const int exponent =
      static_cast<int>((bits >> 23) & 0xffu) - 127 + ((bits & 0x7fffffu) != 0 ? 1 : 0);
  return std::ldexp(1.0f, exponent);
}

// The reference's scale of an FP8 block with absolute maximum `amax`:
// 2^ceil(log2(max(amax, 1e-4) * fl32(1/448))).
inline float Fp8BlockScale(float amax) {
  return Pow2Ceil(std::fmax(amax, 1e-4f) * static_cast<float>(1.0 / 448.0));
}

// The reference's scale of an FP4 block: 2^ceil(log2(max(amax, 6*2^-126) * fl32(1/6))).
inline float Fp4BlockScale(float amax) {
  return Pow2Ceil(std::fmax(amax, 6.0f * std::ldexp(1.0f, -126)) * static_cast<float>(1.0 / 6.0));
}

// ---- transcendental functions evaluated in double and rounded once to float -------------------

inline float ExpF(float x) { return static_cast<float>(std::exp(static_cast<double>(x))); }
inline float SigmoidF(float x) {
  return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x))));
}
inline float SiluF(float x) {
  const double d = x;
  return static_cast<float>(d / (1.0 + std::exp(-d)));
}
inline float RsqrtF(float x) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(x))); }
// torch.nn.functional.softplus with beta 1, threshold 20.
inline float SoftplusF(float x) {
  return x > 20.0f ? x : static_cast<float>(std::log1p(std::exp(static_cast<double>(x))));
}
inline float SqrtF(float x) { return static_cast<float>(std::sqrt(static_cast<double>(x))); }

}  // namespace dsagent::engine::kernels
