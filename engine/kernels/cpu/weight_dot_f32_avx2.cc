// The AVX2 + FMA variant of weight_dot_f32.h, both orders (the pair order's is also what AVX-512
// CPUs without BF16 run): two 8-lane registers are the contract's block[16] (lo = lanes 0..7, hi =
// lanes 8..15), so the results equal the AVX-512 and scalar ones bit for bit. Compiled for that
// target whatever the build's baseline; called only when the CPU has it.
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/cpu/weight_dot_f32.h"

// Only the code below is compiled for the target (see weight_dot_avx2.cc).
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

// (No default member initialisers, constructors or lambdas here: GCC compiles those without the
// target pragma's instruction set.)
// A block's 16 fp32 lanes: lo = lanes 0..7, hi = lanes 8..15.
struct Lanes {
  __m256 lo, hi;
};
inline Lanes Zero() { return Lanes{_mm256_setzero_ps(), _mm256_setzero_ps()}; }

// The contract's 16 double lanes, four to a register: q[0] = lanes 0..3, ... q[3] = 12..15.
struct Lanes64 {
  __m256d q[4];
  // q += double(block) (the columns order).
  void Add(const Lanes& block) {
    q[0] = _mm256_add_pd(q[0], _mm256_cvtps_pd(_mm256_castps256_ps128(block.lo)));
    q[1] = _mm256_add_pd(q[1], _mm256_cvtps_pd(_mm256_extractf128_ps(block.lo, 1)));
    q[2] = _mm256_add_pd(q[2], _mm256_cvtps_pd(_mm256_castps256_ps128(block.hi)));
    q[3] = _mm256_add_pd(q[3], _mm256_cvtps_pd(_mm256_extractf128_ps(block.hi, 1)));
  }
  // q += double(block) * scale (the pair order; exact: a power of two times a float).
  void AddScaled(const Lanes& block, __m256d scale) {
    q[0] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(block.lo)), scale, q[0]);
    q[1] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(block.lo, 1)), scale, q[1]);
    q[2] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(block.hi)), scale, q[2]);
    q[3] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(block.hi, 1)), scale, q[3]);
  }
  // The contract's reduction: i + i+8, then i + i+4, i + i+2, 0 + 1, plus the tail, rounded once.
  float Finish(float tail) const {
    const __m256d s8a = _mm256_add_pd(q[0], q[2]), s8b = _mm256_add_pd(q[1], q[3]);
    const __m256d s4 = _mm256_add_pd(s8a, s8b);
    const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    const double s = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
    return static_cast<float>(s + static_cast<double>(tail));
  }
};
inline Lanes64 Zero64() {
  const __m256d z = _mm256_setzero_pd();
  return Lanes64{{z, z, z, z}};
}

constexpr int64_t kPrefetchBytes = 2048;  // see weight_dot_avx512.cc
inline void PrefetchAhead(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
}

inline __m256 Pow2(int exponent) {
  return _mm256_castsi256_ps(_mm256_set1_epi32((exponent + 127) << 23));
}

// 8 e4m3 bytes as exact floats times 2^(scale - 119) (see Fp8x16 in weight_dot_avx512.cc).
inline __m256 Fp8x8(const uint8_t* p, __m256 factor) {
  int64_t bytes;
  std::memcpy(&bytes, p, 8);
  const __m128i b = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(bytes));
  const __m128i magnitude = _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x7f)), 7);
  const __m128i sign = _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x80)), 8);
  return _mm256_mul_ps(_mm256_cvtph_ps(_mm_or_si128(magnitude, sign)), factor);
}

float RowFp8(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const uint8_t* p = w.data + row * w.cols;
  const uint8_t* srow = w.scale + (row / 128) * w.scale_cols;
  const float* xv = x.values();
  Lanes64 lanes = Zero64();
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    const uint8_t s = srow[c0 / 128];
    if (!Fp8ScaleFitsFloat(s)) {
      tail = WeightTailF32(w, row, c0, c1, x, tail);
      continue;
    }
    const __m256 factor = Pow2(s - 119);
    Lanes block = Zero();
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
      if (c % 64 == 0) PrefetchAhead(p + c);
      block.lo = _mm256_fmadd_ps(Fp8x8(p + c, factor), _mm256_loadu_ps(xv + c), block.lo);
      block.hi = _mm256_fmadd_ps(Fp8x8(p + c + 8, factor), _mm256_loadu_ps(xv + c + 8), block.hi);
    }
    if (c < c1) tail = WeightTailF32(w, row, c, c1, x, tail);
    lanes.Add(block);
  }
  return lanes.Finish(tail);
}

// Signed e2m1 values of 8 nibbles times factor: the magnitude by table lookup (`positive` holds
// 0, .5, 1, 1.5, 2, 3, 4, 6), bit 3 moved to the sign bit.
inline __m256 Fp4x8(__m256i nibbles, __m256 positive, __m256 factor) {
  const __m256 magnitude =
      _mm256_permutevar8x32_ps(positive, _mm256_and_si256(nibbles, _mm256_set1_epi32(7)));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(nibbles, _mm256_set1_epi32(8)), 28);
  return _mm256_mul_ps(_mm256_xor_ps(magnitude, _mm256_castsi256_ps(sign)), factor);
}

// 8 bf16 values as floats.
inline __m256 Bf16x8(const uint8_t* q) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(
      _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))), 16));
}

// 16 packed FP4 bytes of a 32-column group: lanes j take columns 2j (low nibble of byte j) and
// 2j + 1 (high nibble). The table holds the signed e2m1 values.
float RowFp4(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const uint8_t* p = w.data + row * (w.cols / 2);
  const uint8_t* srow = w.scale + row * w.scale_cols;
  const __m256 positive = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
  Lanes64 lanes = Zero64();
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    Lanes block = Zero();
    for (int64_t g = c0; g < c1; g += 32) {
      const int64_t g1 = c1 < g + 32 ? c1 : g + 32;
      const uint8_t s = srow[g / 32];
      if (g1 - g != 32 || !Fp4ScaleFitsFloat(s)) {
        tail = WeightTailF32(w, row, g, g1, x, tail);
        continue;
      }
      if (g % 128 == 0) PrefetchAhead(p + g / 2);
      const __m256 factor = Pow2(s - 127);
      // All 16 bytes as 16-bit values: the low byte of each 16-bit lane is one packed byte.
      const __m256i b16 =
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + g / 2)));
      const __m256i lo_bytes = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(b16));
      const __m256i hi_bytes = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(b16, 1));
      const float* xe = x.even() + g / 2;
      const float* xo = x.odd() + g / 2;
      block.lo = _mm256_fmadd_ps(Fp4x8(lo_bytes, positive, factor), _mm256_loadu_ps(xe), block.lo);
      block.lo = _mm256_fmadd_ps(Fp4x8(_mm256_srli_epi32(lo_bytes, 4), positive, factor),
                                 _mm256_loadu_ps(xo), block.lo);
      block.hi =
          _mm256_fmadd_ps(Fp4x8(hi_bytes, positive, factor), _mm256_loadu_ps(xe + 8), block.hi);
      block.hi = _mm256_fmadd_ps(Fp4x8(_mm256_srli_epi32(hi_bytes, 4), positive, factor),
                                 _mm256_loadu_ps(xo + 8), block.hi);
    }
    lanes.Add(block);
  }
  return lanes.Finish(tail);
}

float RowBf16(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const uint8_t* p = w.data + row * w.cols * 2;
  const float* xv = x.values();
  Lanes64 lanes = Zero64();
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    Lanes block = Zero();
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
      if (c % 32 == 0) PrefetchAhead(p + 2 * c);
      block.lo = _mm256_fmadd_ps(Bf16x8(p + 2 * c), _mm256_loadu_ps(xv + c), block.lo);
      block.hi = _mm256_fmadd_ps(Bf16x8(p + 2 * c + 16), _mm256_loadu_ps(xv + c + 8), block.hi);
    }
    if (c < c1) tail = WeightTailF32(w, row, c, c1, x, tail);
    lanes.Add(block);
  }
  return lanes.Finish(tail);
}

float RowF32(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const float* p = reinterpret_cast<const float*>(w.data) + row * w.cols;
  const float* xv = x.values();
  Lanes64 lanes = Zero64();
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    Lanes block = Zero();
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
      block.lo = _mm256_fmadd_ps(_mm256_loadu_ps(p + c), _mm256_loadu_ps(xv + c), block.lo);
      block.hi = _mm256_fmadd_ps(_mm256_loadu_ps(p + c + 8), _mm256_loadu_ps(xv + c + 8), block.hi);
    }
    if (c < c1) tail = WeightTailF32(w, row, c, c1, x, tail);
    lanes.Add(block);
  }
  return lanes.Finish(tail);
}

// ---- The pair order (weight_dot_f32.h): each pair step is two fp32 FMAs, the odd column's
// then the even one's, with the MXCSR's DAZ and FTZ set, which is vdpbf16ps's arithmetic exactly;
// what CPUs without AVX-512 BF16 run. The weights are split into their even and odd columns, the
// activation comes split already (DotInputF32::even()/odd()).

constexpr unsigned kDazFtz = 0x8040;  // MXCSR: denormals are zero (bit 6), flush to zero (bit 15)

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
      scale = _mm256_set1_pd(PairBlockScale(w.scale[(row / 128) * w.scale_cols + c0 / 128]));
    }
    lanes.AddScaled(block, scale);
  }
  return lanes;
}

}  // namespace

void WeightRowDotsF32Avx2(const WeightRows& w, int64_t row_begin, int64_t count,
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
