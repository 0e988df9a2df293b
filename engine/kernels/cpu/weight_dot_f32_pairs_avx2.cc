// The pair order of weight_dot_f32.h with AVX2 + FMA, for CPUs without AVX-512 BF16: each pair
// step is two fp32 FMAs (the odd column's, then the even one's) with the MXCSR's DAZ and FTZ set,
// which is vdpbf16ps's arithmetic exactly (weight_dot_f32.h). Two 8-lane registers are the
// contract's block[16] (lo = lanes 0..7 = columns g..g+15 of a group, hi = lanes 8..15); the
// weights are split into their even and odd columns, the activation comes split already
// (DotInputF32::even()/odd()). Compiled for that target whatever the build's baseline.
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/cpu/weight_dot_f32.h"

// Only the code below is compiled for the target (see weight_dot_avx2.cc).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#include "engine/kernels/cpu/lanes16_avx2.h"

namespace dsagent::engine::kernels::detail {
namespace {

constexpr unsigned kDazFtz = 0x8040;  // MXCSR: denormals are zero (bit 6), flush to zero (bit 15)

constexpr int64_t kPrefetchBytes = 2048;  // see weight_dot_avx512.cc
inline void PrefetchAhead(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
}

// One pair step for 8 lanes: the odd columns' FMA, then the even ones'.
inline __m256 Step(__m256 acc, __m256 w_even, __m256 w_odd, const float* xe, const float* xo) {
  acc = _mm256_fmadd_ps(w_odd, _mm256_loadu_ps(xo), acc);
  return _mm256_fmadd_ps(w_even, _mm256_loadu_ps(xe), acc);
}

// 16 bf16 words (columns c..c+15) as their 8 even and 8 odd columns' floats: a dword holds an
// even column's bits in its low half and the odd one's in its high half.
inline void Bf16Pairs(const uint8_t* q, __m256& even, __m256& odd) {
  const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  even = _mm256_castsi256_ps(_mm256_slli_epi32(d, 16));
  odd = _mm256_castsi256_ps(_mm256_and_si256(d, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
}

// 16 e4m3 codes (columns c..c+15) as the 8 even and 8 odd columns' e4m3 values (no block scale):
// the fp16 pattern of each code times 2^-8 (see Fp8x16 in weight_dot_avx512.cc), the even and odd
// words gathered apart, converted, times 2^8.
inline void Fp8Pairs(const uint8_t* p, __m256& even, __m256& odd) {
  const __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i half =
      _mm256_and_si256(_mm256_slli_epi16(b, 7), _mm256_set1_epi16(static_cast<int16_t>(0xbfff)));
  const __m256i evens = _mm256_and_si256(half, _mm256_set1_epi32(0xffff));
  const __m256i odds = _mm256_srli_epi32(half, 16);
  // Per 128-bit half: evens 0..3, odds 0..3 | evens 4..7, odds 4..7; then evens, odds apart.
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(evens, odds), 0xd8);
  const __m256 two8 = _mm256_set1_ps(256.0f);
  even = _mm256_mul_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(packed)), two8);
  odd = _mm256_mul_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(packed, 1)), two8);
}

// Signed e2m1 values of 8 nibbles times factor (see Fp4x8 in weight_dot_f32_avx2.cc).
inline __m256 Fp4x8(__m256i nibbles, __m256 positive, __m256 factor) {
  const __m256 magnitude =
      _mm256_permutevar8x32_ps(positive, _mm256_and_si256(nibbles, _mm256_set1_epi32(7)));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(nibbles, _mm256_set1_epi32(8)), 28);
  return _mm256_mul_ps(_mm256_xor_ps(magnitude, _mm256_castsi256_ps(sign)), factor);
}

inline __m256 Pow2(int exponent) {
  return _mm256_castsi256_ps(_mm256_set1_epi32((exponent + 127) << 23));
}

// 2^(e - 127) for an e8m0 byte, in double (NaN for 0xff, as the scalar reference).
inline __m256d ScaleF64(uint8_t e) {
  uint64_t bits = e == 0xff ? 0x7ff8000000000000ull : static_cast<uint64_t>(e - 127 + 1023) << 52;
  double v;
  std::memcpy(&v, &bits, 8);
  return _mm256_set1_pd(v);
}

// One row's lanes (everything but the tail), under DAZ/FTZ.
Lanes64 RowLanes(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const float* xe = x.even();
  const float* xo = x.odd();
  const __m256 positive = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
  const __m256d one = _mm256_set1_pd(1.0);
  Lanes64 lanes = Zero64();
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    Lanes block = Zero();
    __m256d scale = one;
    for (int64_t g = c0; g + 32 <= c1; g += 32) {
      const int64_t h = g / 2;  // the group's first pair
      __m256 e0 = _mm256_setzero_ps(), o0 = e0, e1 = e0, o1 = e0;
      switch (w.format) {
        case WeightFormat::kBF16: {
          const uint8_t* q = w.data + (row * w.cols + g) * 2;
          PrefetchAhead(q);
          Bf16Pairs(q, e0, o0);
          Bf16Pairs(q + 32, e1, o1);
          break;
        }
        case WeightFormat::kFP8: {
          const uint8_t* q = w.data + row * w.cols + g;
          if (g % 64 == 0) PrefetchAhead(q);
          Fp8Pairs(q, e0, o0);
          Fp8Pairs(q + 16, e1, o1);
          break;
        }
        case WeightFormat::kFP4: {
          const uint8_t s = w.scale[row * w.scale_cols + g / 32];
          if (!Fp4ScaleFitsFloat(s)) continue;  // in the tail
          const uint8_t* q = w.data + row * (w.cols / 2) + h;
          if (g % 128 == 0) PrefetchAhead(q);
          const __m256 factor = Pow2(s - 127);
          const __m256i b16 =
              _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
          const __m256i lo_bytes = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(b16));
          const __m256i hi_bytes = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(b16, 1));
          e0 = Fp4x8(lo_bytes, positive, factor);
          o0 = Fp4x8(_mm256_srli_epi32(lo_bytes, 4), positive, factor);
          e1 = Fp4x8(hi_bytes, positive, factor);
          o1 = Fp4x8(_mm256_srli_epi32(hi_bytes, 4), positive, factor);
          break;
        }
        case WeightFormat::kF32:
          return lanes;  // never takes pairs
      }
      block.lo = Step(block.lo, e0, o0, xe + h, xo + h);
      block.hi = Step(block.hi, e1, o1, xe + h + 8, xo + h + 8);
    }
    if (w.format == WeightFormat::kFP8) {
      scale = ScaleF64(w.scale[(row / 128) * w.scale_cols + c0 / 128]);
    }
    lanes.AddScaled(block, scale);
  }
  return lanes;
}

}  // namespace

void PairDotsAvx2(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32& x,
                  float* out) {
  const unsigned saved = _mm_getcsr();
  for (int64_t i = 0; i < count; ++i) {
    _mm_setcsr(saved | kDazFtz);
    const Lanes64 lanes = RowLanes(w, row_begin + i, x);
    _mm_setcsr(saved);  // the tail and the final sums are plain IEEE
    out[i] = lanes.Finish(PairTail(w, row_begin + i, x));
  }
}

}  // namespace dsagent::engine::kernels::detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
