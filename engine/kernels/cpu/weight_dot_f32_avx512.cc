// The AVX-512 (F/BW/VL/DQ) variant of weight_dot_f32.h: one 16-lane register is the contract's
// block[16]. Compiled for that target whatever the build's baseline; called only when the CPU has
// it (cpu_isa.h).
#include <immintrin.h>

#include "engine/kernels/cpu/weight_dot_f32.h"

// Only the code below is compiled for the target (see weight_dot_avx512.cc).
// GCC takes the target for the functions below from the pragma; clang ignores `GCC target` and
// needs the attribute applied to them instead.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace dsagent::engine::kernels::detail {
namespace {

// The contract's 16 double lanes: lo = lanes 0..7, hi = lanes 8..15.
struct Lanes {
  __m512d lo, hi;
};
inline Lanes Zero() { return Lanes{_mm512_setzero_pd(), _mm512_setzero_pd()}; }
inline void Add(Lanes& lanes, __m512 block) {
  lanes.lo = _mm512_add_pd(lanes.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(block)));
  lanes.hi = _mm512_add_pd(lanes.hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(block, 1)));
}
// The contract's reduction: lanes i + i+8, then i + i+4, i + i+2, 0 + 1 (addition is
// commutative, so operand order inside each step does not matter), plus the tail, rounded once.
inline float Finish(const Lanes& lanes, float tail) {
  const __m512d s8 = _mm512_add_pd(lanes.lo, lanes.hi);
  const __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(s8), _mm512_extractf64x4_pd(s8, 1));
  const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
  const double s = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
  return static_cast<float>(s + static_cast<double>(tail));
}

constexpr int64_t kPrefetchBytes = 2048;  // see weight_dot_avx512.cc
inline void PrefetchAhead(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
}

inline __m512 Pow2(int exponent) {
  return _mm512_castsi512_ps(_mm512_set1_epi32((exponent + 127) << 23));
}

// 16 e4m3 bytes as exact floats times 2^(scale - 119) (see Fp8x16 in weight_dot_avx512.cc).
inline __m512 Fp8x16(const uint8_t* p, __m512 factor) {
  const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i magnitude = _mm256_slli_epi16(_mm256_and_si256(b, _mm256_set1_epi16(0x7f)), 7);
  const __m256i sign = _mm256_slli_epi16(_mm256_and_si256(b, _mm256_set1_epi16(0x80)), 8);
  return _mm512_mul_ps(_mm512_cvtph_ps(_mm256_or_si256(magnitude, sign)), factor);
}

float RowFp8(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const uint8_t* p = w.data + row * w.cols;
  const uint8_t* srow = w.scale + (row / 128) * w.scale_cols;
  const float* xv = x.values();
  Lanes lanes = Zero();
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    const uint8_t s = srow[c0 / 128];
    if (!Fp8ScaleFitsFloat(s)) {
      tail = WeightTailF32(w, row, c0, c1, x, tail);
      continue;
    }
    const __m512 factor = Pow2(s - 119);
    __m512 block = _mm512_setzero_ps();
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
      if (c % 64 == 0) PrefetchAhead(p + c);
      block = _mm512_fmadd_ps(Fp8x16(p + c, factor), _mm512_loadu_ps(xv + c), block);
    }
    if (c < c1) tail = WeightTailF32(w, row, c, c1, x, tail);
    Add(lanes, block);
  }
  return Finish(lanes, tail);
}

float RowFp4(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const uint8_t* p = w.data + row * (w.cols / 2);
  const uint8_t* srow = w.scale + row * w.scale_cols;
  const __m512 table = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f,
                                      -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
  const __m512i nibble = _mm512_set1_epi32(0xf);
  Lanes lanes = Zero();
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block = _mm512_setzero_ps();
    for (int64_t g = c0; g < c1; g += 32) {
      const int64_t g1 = c1 < g + 32 ? c1 : g + 32;
      const uint8_t s = srow[g / 32];
      if (g1 - g != 32 || !Fp4ScaleFitsFloat(s)) {
        tail = WeightTailF32(w, row, g, g1, x, tail);
        continue;
      }
      if (g % 128 == 0) PrefetchAhead(p + g / 2);
      const __m512 factor = Pow2(s - 127);
      const __m512i b =
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + g / 2)));
      const __m512 lo =
          _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_and_si512(b, nibble), table), factor);
      const __m512 hi = _mm512_mul_ps(
          _mm512_permutexvar_ps(_mm512_and_si512(_mm512_srli_epi32(b, 4), nibble), table), factor);
      block = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x.even() + g / 2), block);
      block = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x.odd() + g / 2), block);
    }
    Add(lanes, block);
  }
  return Finish(lanes, tail);
}

float RowBf16(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const uint8_t* p = w.data + row * w.cols * 2;
  const float* xv = x.values();
  Lanes lanes = Zero();
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block = _mm512_setzero_ps();
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
      if (c % 32 == 0) PrefetchAhead(p + 2 * c);
      const __m512i bits = _mm512_slli_epi32(
          _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * c))),
          16);
      block = _mm512_fmadd_ps(_mm512_castsi512_ps(bits), _mm512_loadu_ps(xv + c), block);
    }
    if (c < c1) tail = WeightTailF32(w, row, c, c1, x, tail);
    Add(lanes, block);
  }
  return Finish(lanes, tail);
}

float RowF32(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const float* p = reinterpret_cast<const float*>(w.data) + row * w.cols;
  const float* xv = x.values();
  Lanes lanes = Zero();
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block = _mm512_setzero_ps();
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
      block = _mm512_fmadd_ps(_mm512_loadu_ps(p + c), _mm512_loadu_ps(xv + c), block);
    }
    if (c < c1) tail = WeightTailF32(w, row, c, c1, x, tail);
    Add(lanes, block);
  }
  return Finish(lanes, tail);
}

}  // namespace

void WeightRowDotsF32Avx512(const WeightRows& w, int64_t row_begin, int64_t count,
                            const DotInputF32& x, float* out) {
  for (int64_t i = 0; i < count; ++i) {
    const int64_t row = row_begin + i;
    switch (w.format) {
      case WeightFormat::kFP8:
        out[i] = RowFp8(w, row, x);
        break;
      case WeightFormat::kFP4:
        out[i] = RowFp4(w, row, x);
        break;
      case WeightFormat::kBF16:
        out[i] = RowBf16(w, row, x);
        break;
      case WeightFormat::kF32:
        out[i] = RowF32(w, row, x);
        break;
    }
  }
}

}  // namespace dsagent::engine::kernels::detail

#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
