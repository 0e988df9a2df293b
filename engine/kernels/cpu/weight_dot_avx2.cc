// The AVX2 + FMA variant of weight_dot.h (same arithmetic as the AVX-512 one, 8 lanes). Compiled
// for that target whatever the build's baseline; called only when the CPU has it (cpu_isa.h).
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/cpu/weight_dot.h"

// Only the code below is compiled for the target: inline functions of the headers above keep the
// build's baseline, so the linker can never pick an AVX2 copy of them for code that runs anywhere.
// GCC takes the target for the functions below from the pragma; clang ignores `GCC target` and
// needs the attribute applied to them instead.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace dsagent::engine::kernels::detail {
namespace {

inline double Sum(__m256d v) {
  const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
}

// acc += w[0..7] * x[0..7] with w 8 floats, x 8 doubles.
inline void Fma8(__m256 w, const double* x, __m256d& acc0, __m256d& acc1) {
  acc0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(w)), _mm256_loadu_pd(x), acc0);
  acc1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(w, 1)), _mm256_loadu_pd(x + 4),
                         acc1);
}

inline __m256i Load8Bytes(const uint8_t* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(v));
}

// See PrefetchAhead in weight_dot_avx512.cc.
constexpr int64_t kPrefetchBytes = 2048;
inline void PrefetchAhead(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
}

inline __m256 Pow2(int exponent) {
  return _mm256_castsi256_ps(_mm256_set1_epi32((exponent + 127) << 23));
}

// See Fp8x16 in weight_dot_avx512.cc (the fp16 placement and F16C widening).
inline __m256 Fp8x8(const uint8_t* p, __m256 factor) {
  int64_t bytes;
  std::memcpy(&bytes, p, 8);
  const __m128i b = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(bytes));
  const __m128i magnitude = _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x7f)), 7);
  const __m128i sign = _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x80)), 8);
  return _mm256_mul_ps(_mm256_cvtph_ps(_mm_or_si128(magnitude, sign)), factor);
}

double RowFp8(const WeightRows& w, int64_t row, const DotInput& x) {
  const uint8_t* p = w.data + row * w.cols;
  const uint8_t* srow = w.scale + (row / 128) * w.scale_cols;
  const double* xv = x.values();
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  double tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = (w.cols < c0 + 128 ? w.cols : c0 + 128);
    const uint8_t s = srow[c0 / 128];
    if (!Fp8ScaleFitsFloat(s) || (c1 - c0) % 8 != 0) {
      tail += WeightRowDotScalarRange(w, row, c0, c1, x);
      continue;
    }
    const __m256 factor = Pow2(s - 119);
    for (int64_t c = c0; c < c1; c += 8) {
      if (c % 64 == 0) PrefetchAhead(p + c);
      Fma8(Fp8x8(p + c, factor), xv + c, acc0, acc1);
    }
  }
  return Sum(_mm256_add_pd(acc0, acc1)) + tail;
}

// 8 magnitudes by table lookup, the sign from bit 3.
inline __m256 Fp4x8(__m256i nibbles, __m256 table, __m256 factor) {
  const __m256 magnitude = _mm256_permutevar8x32_ps(table, nibbles);
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(nibbles, _mm256_set1_epi32(8)), 28);
  return _mm256_mul_ps(_mm256_xor_ps(magnitude, _mm256_castsi256_ps(sign)), factor);
}

double RowFp4(const WeightRows& w, int64_t row, const DotInput& x) {
  const uint8_t* p = w.data + row * (w.cols / 2);
  const uint8_t* srow = w.scale + row * w.scale_cols;
  const __m256 table = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
  const __m256i nibble = _mm256_set1_epi32(0xf);
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  double tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 32) {
    const uint8_t s = srow[c0 / 32];
    if (!Fp4ScaleFitsFloat(s) || c0 + 32 > w.cols) {
      tail += WeightRowDotScalarRange(w, row, c0, (w.cols < c0 + 32 ? w.cols : c0 + 32), x);
      continue;
    }
    const __m256 factor = Pow2(s - 127);
    if (c0 % 128 == 0) PrefetchAhead(p + c0 / 2);
    for (int64_t half = 0; half < 16; half += 8) {
      const __m256i b = Load8Bytes(p + c0 / 2 + half);
      const __m256 lo = Fp4x8(_mm256_and_si256(b, nibble), table, factor);
      const __m256 hi = Fp4x8(_mm256_and_si256(_mm256_srli_epi32(b, 4), nibble), table, factor);
      Fma8(lo, x.even() + c0 / 2 + half, acc0, acc1);
      Fma8(hi, x.odd() + c0 / 2 + half, acc0, acc1);
    }
  }
  return Sum(_mm256_add_pd(acc0, acc1)) + tail;
}

double RowBf16(const WeightRows& w, int64_t row, const DotInput& x) {
  const uint8_t* p = w.data + row * w.cols * 2;
  const double* xv = x.values();
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t c = 0;
  for (; c + 8 <= w.cols; c += 8) {
    if (c % 32 == 0) PrefetchAhead(p + 2 * c);
    const __m256i bits = _mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * c))), 16);
    Fma8(_mm256_castsi256_ps(bits), xv + c, acc0, acc1);
  }
  return Sum(_mm256_add_pd(acc0, acc1)) + WeightRowDotScalarRange(w, row, c, w.cols, x);
}

double RowF32(const WeightRows& w, int64_t row, const DotInput& x) {
  const float* p = reinterpret_cast<const float*>(w.data) + row * w.cols;
  const double* xv = x.values();
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t c = 0;
  for (; c + 8 <= w.cols; c += 8) Fma8(_mm256_loadu_ps(p + c), xv + c, acc0, acc1);
  return Sum(_mm256_add_pd(acc0, acc1)) + WeightRowDotScalarRange(w, row, c, w.cols, x);
}

}  // namespace

// The same per-format dispatch as the other variant's, written out in each file on purpose: a
// shared template would be instantiated under two targets with one mangled name, and the linker
// keeps one of them for both.
void WeightRowDotsAvx2(const WeightRows& w, int64_t row_begin, int64_t count, const DotInput& x,
                       double* out) {
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

double DotF64Avx2(const double* a, const double* b, int64_t n) {
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    acc0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + k), _mm256_loadu_pd(b + k), acc0);
    acc1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + k + 4), _mm256_loadu_pd(b + k + 4), acc1);
  }
  double sum = Sum(_mm256_add_pd(acc0, acc1));
  for (; k < n; ++k) sum += a[k] * b[k];
  return sum;
}

void AxpyBf16F64Avx2(double a, const uint16_t* x, double* y, int64_t n) {
  const __m256d va = _mm256_set1_pd(a);
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    const __m128i wide = _mm_slli_epi32(
        _mm_cvtepu16_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + k))), 16);
    const __m256d v = _mm256_cvtps_pd(_mm_castsi128_ps(wide));
    _mm256_storeu_pd(y + k, _mm256_fmadd_pd(va, v, _mm256_loadu_pd(y + k)));
  }
  AxpyBf16F64Scalar(a, x + k, y + k, n - k);
}

}  // namespace dsagent::engine::kernels::detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
