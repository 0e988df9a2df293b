// The AVX-512 (F/BW/VL/DQ) variant of weight_dot_f32.h: one 16-lane register is the contract's
// block[16]. Compiled for that target whatever the build's baseline; called only when the CPU has
// it (cpu_isa.h).
#include <immintrin.h>

#include <cfloat>
#include <cmath>
#include <cstring>

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

#include "engine/kernels/cpu/lanes16_avx512.h"

namespace dsagent::engine::kernels::detail {
namespace {

using Lanes = Lanes16;

constexpr int64_t kPrefetchBytes = 2048;  // see weight_dot_avx512.cc
inline void PrefetchAhead(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
}

inline __m512 Pow2(int exponent) {
  return _mm512_castsi512_ps(_mm512_set1_epi32((exponent + 127) << 23));
}

// 32 e4m3 bytes as fp16 bit patterns, the e4m3 value times 2^-8 (see Fp8x16 in
// weight_dot_avx512.cc): 0EEEEMMM goes to exponent EEEE, mantissa MMM << 7, and the sign to bit
// 15. Sign-extended to 16 bits and shifted left by 7, a byte lands with its sign in bits 15 and
// 14 and its magnitude in 13..7; clearing bit 14 leaves the fp16. Three operations for 32 bytes,
// then the hardware fp16 -> float conversion (which takes fp16 subnormals at full speed) and one
// multiply by 2^(scale - 119) per 16.
inline __m512i Fp8x32AsHalf(const uint8_t* p) {
  const __m512i b = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_and_si512(_mm512_slli_epi16(b, 7), _mm512_set1_epi16(static_cast<int16_t>(0xbfff)));
}
inline __m512 HalvesLo(__m512i half, __m512 factor) {
  return _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(half)), factor);
}
inline __m512 HalvesHi(__m512i half, __m512 factor) {
  return _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(half, 1)), factor);
}

// 16 e4m3 bytes as exact floats times 2^(scale - 119), the same way.
inline __m512 Fp8x16(const uint8_t* p, __m512 factor) {
  const __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i half =
      _mm256_and_si256(_mm256_slli_epi16(b, 7), _mm256_set1_epi16(static_cast<int16_t>(0xbfff)));
  return _mm512_mul_ps(_mm512_cvtph_ps(half), factor);
}

// The kernels below work on R weight rows at once. Each row keeps the contract's own order (its
// block chain, tail and lanes), so the results are those of one row at a time; what R buys is R
// independent chains of dependent operations and shared activation loads. Measured per format
// (bench/weight_dot_bench, docs/BENCHMARKS.md): FP4 gains (its table lookups and FMAs per row
// form a chain), the others do not (FP8 read from memory lost a third with four rows at once), so
// only FP4 takes four.
constexpr int kFp4RowsAtOnce = 4;

// One 16-column FP8 group: block += weights * x.
inline __m512 Fp8Group(const uint8_t* p, __m512 factor, __m512 xv, __m512 block) {
  return _mm512_fmadd_ps(Fp8x16(p, factor), xv, block);
}

// The FP8 block [c0, c1) of R rows whose scales all fit: their full groups into block[r], the
// remaining columns into tail[r].
template <int R>
inline void Fp8Block(const WeightRows& w, int64_t row, const uint8_t* const* p,
                     const __m512* factor, int64_t c0, int64_t c1, const DotInputF32& x,
                     __m512* block, float* tail) {
  const float* xv = x.values();
  int64_t c = c0;
  // Two 16-column groups per step, in order.
  for (; c + 32 <= c1; c += 32) {
    if (c % 64 == 0) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) PrefetchAhead(p[r] + c);
    }
    const __m512 x0 = _mm512_loadu_ps(xv + c), x1 = _mm512_loadu_ps(xv + c + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i half = Fp8x32AsHalf(p[r] + c);
      block[r] = _mm512_fmadd_ps(HalvesLo(half, factor[r]), x0, block[r]);
      block[r] = _mm512_fmadd_ps(HalvesHi(half, factor[r]), x1, block[r]);
    }
  }
  for (; c + 16 <= c1; c += 16) {
    const __m512 xc = _mm512_loadu_ps(xv + c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) block[r] = Fp8Group(p[r] + c, factor[r], xc, block[r]);
  }
  if (c < c1) {
    for (int r = 0; r < R; ++r) tail[r] = WeightTailF32(w, row + r, c, c1, x, tail[r]);
  }
}

template <int R>
void RowsFp8(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  const uint8_t* p[R];
  const uint8_t* srow[R];
  Lanes lanes[R];
  float tail[R];
  for (int r = 0; r < R; ++r) {
    p[r] = w.data + (row + r) * w.cols;
    srow[r] = w.scale + ((row + r) / 128) * w.scale_cols;
    lanes[r] = ZeroLanes16();
    tail[r] = 0;
  }
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 factor[R], block[R];
    bool all_fit = true;
    for (int r = 0; r < R; ++r) {
      const uint8_t s = srow[r][c0 / 128];
      all_fit = all_fit && Fp8ScaleFitsFloat(s);
      factor[r] = Pow2(s - 119);
      block[r] = _mm512_setzero_ps();
    }
    if (all_fit) {
      Fp8Block<R>(w, row, p, factor, c0, c1, x, block, tail);
    } else {
      // Rare (scales outside the float-exact range): each row on its own, as the contract says.
      for (int r = 0; r < R; ++r) {
        if (Fp8ScaleFitsFloat(srow[r][c0 / 128])) {
          Fp8Block<1>(w, row + r, &p[r], &factor[r], c0, c1, x, &block[r], &tail[r]);
        } else {
          tail[r] = WeightTailF32(w, row + r, c0, c1, x, tail[r]);
        }
      }
    }
    for (int r = 0; r < R; ++r) AddBlock(lanes[r], block[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = FinishLanes16(lanes[r], tail[r]);
}

// One complete 32-column FP4 group of one row: 16 packed bytes, the even columns from the low
// nibbles and the odd ones from the high nibbles, in the contract's order (even, then odd).
// `scaled` is the signed e2m1 table times the group's scale (exact: Fp4ScaleFitsFloat); the
// permute reads only an index's low four bits, so the low nibble needs no mask and the high one
// is a shift.
inline __m512 Fp4Group(const uint8_t* q, __m512 scaled, __m512 xe, __m512 xo, __m512 block) {
  const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  block = _mm512_fmadd_ps(_mm512_permutexvar_ps(b, scaled), xe, block);
  return _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), scaled), xo, block);
}

// The signed e2m1 values by nibble.
inline __m512 Fp4Table() {
  return _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                        -2.0f, -3.0f, -4.0f, -6.0f);
}

template <int R>
void RowsFp4(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  const __m512 table = Fp4Table();
  const uint8_t* p[R];
  const uint8_t* srow[R];
  Lanes lanes[R];
  float tail[R];
  for (int r = 0; r < R; ++r) {
    p[r] = w.data + (row + r) * (w.cols / 2);
    srow[r] = w.scale + (row + r) * w.scale_cols;
    lanes[r] = ZeroLanes16();
    tail[r] = 0;
  }
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R];
    for (int r = 0; r < R; ++r) block[r] = _mm512_setzero_ps();
    for (int64_t g = c0; g < c1; g += 32) {
      const int64_t g1 = c1 < g + 32 ? c1 : g + 32;
      if (g1 - g != 32) {
        for (int r = 0; r < R; ++r) tail[r] = WeightTailF32(w, row + r, g, g1, x, tail[r]);
        continue;
      }
      if (g % 128 == 0) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) PrefetchAhead(p[r] + g / 2);
      }
      const __m512 xe = _mm512_loadu_ps(x.even() + g / 2), xo = _mm512_loadu_ps(x.odd() + g / 2);
      bool all_fit = true;
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) all_fit = all_fit && Fp4ScaleFitsFloat(srow[r][g / 32]);
      if (all_fit) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          const __m512 scaled = _mm512_mul_ps(table, Pow2(srow[r][g / 32] - 127));
          block[r] = Fp4Group(p[r] + g / 2, scaled, xe, xo, block[r]);
        }
      } else {
        for (int r = 0; r < R; ++r) {
          const uint8_t s = srow[r][g / 32];
          if (Fp4ScaleFitsFloat(s)) {
            block[r] =
                Fp4Group(p[r] + g / 2, _mm512_mul_ps(table, Pow2(s - 127)), xe, xo, block[r]);
          } else {
            tail[r] = WeightTailF32(w, row + r, g, g1, x, tail[r]);
          }
        }
      }
    }
    for (int r = 0; r < R; ++r) AddBlock(lanes[r], block[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = FinishLanes16(lanes[r], tail[r]);
}

// 16 bf16 values as floats.
inline __m512 Bf16x16(const uint8_t* q) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(
      _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))), 16));
}

template <int R>
void RowsBf16(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  const float* xv = x.values();
  const uint8_t* p[R];
  Lanes lanes[R];
  float tail[R];
  for (int r = 0; r < R; ++r) {
    p[r] = w.data + (row + r) * w.cols * 2;
    lanes[r] = ZeroLanes16();
    tail[r] = 0;
  }
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R];
    for (int r = 0; r < R; ++r) block[r] = _mm512_setzero_ps();
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
      if (c % 32 == 0) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) PrefetchAhead(p[r] + 2 * c);
      }
      const __m512 xc = _mm512_loadu_ps(xv + c);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) block[r] = _mm512_fmadd_ps(Bf16x16(p[r] + 2 * c), xc, block[r]);
    }
    if (c < c1) {
      for (int r = 0; r < R; ++r) tail[r] = WeightTailF32(w, row + r, c, c1, x, tail[r]);
    }
    for (int r = 0; r < R; ++r) AddBlock(lanes[r], block[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = FinishLanes16(lanes[r], tail[r]);
}

template <int R>
void RowsF32(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  const float* xv = x.values();
  const float* p[R];
  Lanes lanes[R];
  float tail[R];
  for (int r = 0; r < R; ++r) {
    p[r] = reinterpret_cast<const float*>(w.data) + (row + r) * w.cols;
    lanes[r] = ZeroLanes16();
    tail[r] = 0;
  }
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R];
    for (int r = 0; r < R; ++r) block[r] = _mm512_setzero_ps();
    int64_t c = c0;
    for (; c + 16 <= c1; c += 16) {
      const __m512 xc = _mm512_loadu_ps(xv + c);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
        block[r] = _mm512_fmadd_ps(_mm512_loadu_ps(p[r] + c), xc, block[r]);
    }
    if (c < c1) {
      for (int r = 0; r < R; ++r) tail[r] = WeightTailF32(w, row + r, c, c1, x, tail[r]);
    }
    for (int r = 0; r < R; ++r) AddBlock(lanes[r], block[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = FinishLanes16(lanes[r], tail[r]);
}

template <int R>
void Rows(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  switch (w.format) {
    case WeightFormat::kFP8:
      return RowsFp8<R>(w, row, x, out);
    case WeightFormat::kFP4:
      return RowsFp4<R>(w, row, x, out);
    case WeightFormat::kBF16:
      return RowsBf16<R>(w, row, x, out);
    case WeightFormat::kF32:
      return RowsF32<R>(w, row, x, out);
  }
}

// The batch path (prefill): one weight row against T inputs. Each (row, input) pair has its own
// block chain, tail and lanes in the contract's order, so the bits are the single-input kernel's;
// the weight group is dequantised once and feeds T independent FMA chains.
template <int T>
struct BatchAcc {
  Lanes lanes[T];
  float tail[T];
  __m512 block[T];
  void Start() {
    for (int t = 0; t < T; ++t) {
      lanes[t] = ZeroLanes16();
      tail[t] = 0;
    }
  }
  void StartBlock() {
    for (int t = 0; t < T; ++t) block[t] = _mm512_setzero_ps();
  }
  void EndBlock() {
    for (int t = 0; t < T; ++t) AddBlock(lanes[t], block[t]);
  }
  void Tail(const WeightRows& w, int64_t row, int64_t c0, int64_t c1,
            const DotInputF32* const* xs) {
    for (int t = 0; t < T; ++t) tail[t] = WeightTailF32(w, row, c0, c1, *xs[t], tail[t]);
  }
  void Finish(float* out, int64_t out_stride) const {
    for (int t = 0; t < T; ++t) out[t * out_stride] = FinishLanes16(lanes[t], tail[t]);
  }
};

// block[t] += weights (16 columns from c) * inputs[t]'s values at c.
template <int T>
inline void FmaInputs(__m512 weights, const float* const* xv, int64_t c, __m512* block) {
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t)
    block[t] = _mm512_fmadd_ps(weights, _mm512_loadu_ps(xv[t] + c), block[t]);
}

// One complete FP4 group (scale in range) against T inputs: the group's even and odd columns
// dequantised once, then per input the even columns' FMA and the odd ones' (the contract's order).
template <int T>
inline void Fp4GroupInputs(const uint8_t* q, uint8_t scale, const float* const* xe,
                           const float* const* xo, int64_t half, __m512* block) {
  const __m512 scaled = _mm512_mul_ps(Fp4Table(), Pow2(scale - 127));
  const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  const __m512 even = _mm512_permutexvar_ps(b, scaled);
  const __m512 odd = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), scaled);
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    block[t] = _mm512_fmadd_ps(even, _mm512_loadu_ps(xe[t] + half), block[t]);
    block[t] = _mm512_fmadd_ps(odd, _mm512_loadu_ps(xo[t] + half), block[t]);
  }
}

// Whether the four scales of a full 128-column FP4 block are all in the float-exact range.
inline bool Fp4ScalesFit4(const uint8_t* s) {
  return Fp4ScaleFitsFloat(s[0]) && Fp4ScaleFitsFloat(s[1]) && Fp4ScaleFitsFloat(s[2]) &&
         Fp4ScaleFitsFloat(s[3]);
}

template <int T>
void BatchRow(const WeightRows& w, int64_t row, const DotInputF32* const* xs, float* out,
              int64_t out_stride) {
  const float* xv[T];
  const float* xe[T];
  const float* xo[T];
  for (int t = 0; t < T; ++t) {
    xv[t] = xs[t]->values();
    xe[t] = xs[t]->even();
    xo[t] = xs[t]->odd();
  }
  BatchAcc<T> acc;
  acc.Start();
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    acc.StartBlock();
    switch (w.format) {
      case WeightFormat::kFP8: {
        const uint8_t* p = w.data + row * w.cols;
        const uint8_t s = w.scale[(row / 128) * w.scale_cols + c0 / 128];
        if (!Fp8ScaleFitsFloat(s)) {
          acc.Tail(w, row, c0, c1, xs);
          break;
        }
        const __m512 factor = Pow2(s - 119);
        int64_t c = c0;
        for (; c + 32 <= c1; c += 32) {
          const __m512i half = Fp8x32AsHalf(p + c);
          FmaInputs<T>(HalvesLo(half, factor), xv, c, acc.block);
          FmaInputs<T>(HalvesHi(half, factor), xv, c + 16, acc.block);
        }
        for (; c + 16 <= c1; c += 16) FmaInputs<T>(Fp8x16(p + c, factor), xv, c, acc.block);
        if (c < c1) acc.Tail(w, row, c, c1, xs);
        break;
      }
      case WeightFormat::kFP4: {
        const uint8_t* p = w.data + row * (w.cols / 2);
        const uint8_t* srow = w.scale + row * w.scale_cols;
        if (c1 - c0 == 128 && Fp4ScalesFit4(srow + c0 / 32)) {
          // The common case, with no call inside the loop (a call would make the compiler keep
          // the accumulators in memory).
          for (int64_t g = c0; g < c1; g += 32) {
            Fp4GroupInputs<T>(p + g / 2, srow[g / 32], xe, xo, g / 2, acc.block);
          }
          break;
        }
        for (int64_t g = c0; g < c1; g += 32) {
          const int64_t g1 = c1 < g + 32 ? c1 : g + 32;
          if (g1 - g != 32 || !Fp4ScaleFitsFloat(srow[g / 32])) {
            acc.Tail(w, row, g, g1, xs);
          } else {
            Fp4GroupInputs<T>(p + g / 2, srow[g / 32], xe, xo, g / 2, acc.block);
          }
        }
        break;
      }
      case WeightFormat::kBF16: {
        const uint8_t* p = w.data + row * w.cols * 2;
        int64_t c = c0;
        for (; c + 16 <= c1; c += 16) FmaInputs<T>(Bf16x16(p + 2 * c), xv, c, acc.block);
        if (c < c1) acc.Tail(w, row, c, c1, xs);
        break;
      }
      case WeightFormat::kF32: {
        const float* p = reinterpret_cast<const float*>(w.data) + row * w.cols;
        int64_t c = c0;
        for (; c + 16 <= c1; c += 16) FmaInputs<T>(_mm512_loadu_ps(p + c), xv, c, acc.block);
        if (c < c1) acc.Tail(w, row, c, c1, xs);
        break;
      }
    }
    acc.EndBlock();
  }
  acc.Finish(out, out_stride);
}

// Inputs per pass of a weight row: four keep the FMA units busy, and a pass's accumulators
// (4 blocks, 8 lane registers) fit the 32 registers with room for the weights.
constexpr int kInputsAtOnce = 4;

}  // namespace

void WeightRowDotsF32Avx512(const WeightRows& w, int64_t row_begin, int64_t count,
                            const DotInputF32& x, float* out) {
  int64_t i = 0;
  if (w.format == WeightFormat::kFP4) {
    for (; i + kFp4RowsAtOnce <= count; i += kFp4RowsAtOnce) {
      RowsFp4<kFp4RowsAtOnce>(w, row_begin + i, x, out + i);
    }
  }
  for (; i < count; ++i) Rows<1>(w, row_begin + i, x, out + i);
}

void WeightRowDotsF32BatchAvx512(const WeightRows& w, int64_t row_begin, int64_t count,
                                 const DotInputF32* inputs, int64_t n_inputs, float* out,
                                 int64_t out_stride) {
  for (int64_t t0 = 0; t0 < n_inputs; t0 += kInputsAtOnce) {
    const int64_t n = n_inputs - t0 < kInputsAtOnce ? n_inputs - t0 : kInputsAtOnce;
    const DotInputF32* xs[kInputsAtOnce];
    for (int64_t t = 0; t < n; ++t) xs[t] = &inputs[t0 + t];
    float* o = out + t0 * out_stride;
    for (int64_t i = 0; i < count; ++i) {
      switch (n) {
        case 4:
          BatchRow<4>(w, row_begin + i, xs, o + i, out_stride);
          break;
        case 3:
          BatchRow<3>(w, row_begin + i, xs, o + i, out_stride);
          break;
        case 2:
          BatchRow<2>(w, row_begin + i, xs, o + i, out_stride);
          break;
        default:
          BatchRow<1>(w, row_begin + i, xs, o + i, out_stride);
          break;
      }
    }
  }
}

bool PreparePairsAvx512(const float* x, int64_t n, uint16_t* bf16, float* even, float* odd) {
  const __m512i low_half = _mm512_set1_epi32(0xffff);
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512 smallest_normal = _mm512_set1_ps(FLT_MIN);
  alignas(64) int32_t even_idx[16], odd_idx[16];
  for (int j = 0; j < 16; ++j) {
    even_idx[j] = 2 * j;
    odd_idx[j] = 2 * j + 1;
  }
  const __m512i to_even = _mm512_load_si512(even_idx), to_odd = _mm512_load_si512(odd_idx);
  // v below 2^-126 in magnitude becomes its signed zero (NaN compares false and stays).
  const auto flush = [&](__m512 v) {
    const __mmask16 tiny = _mm512_cmp_ps_mask(_mm512_abs_ps(v), smallest_normal, _CMP_LT_OQ);
    return _mm512_castsi512_ps(
        _mm512_mask_and_epi32(_mm512_castps_si512(v), tiny, _mm512_castps_si512(v), sign));
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    if (_mm512_test_epi32_mask(_mm512_castps_si512(a), low_half) |
        _mm512_test_epi32_mask(_mm512_castps_si512(b), low_half)) {
      return false;
    }
    const __m512 fa = flush(a), fb = flush(b);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bf16 + i),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(fa), 16)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bf16 + i + 16),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(fb), 16)));
    _mm512_storeu_ps(even + i / 2, _mm512_permutex2var_ps(fa, to_even, fb));
    _mm512_storeu_ps(odd + i / 2, _mm512_permutex2var_ps(fa, to_odd, fb));
  }
  for (; i < n; ++i) {  // the last n % 32 values, as the scalar Prepare takes them
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    if ((bits & 0xffff) != 0) return false;
    const float v = std::fabs(x[i]) < FLT_MIN ? std::copysign(0.0f, x[i]) : x[i];
    std::memcpy(&bits, &v, 4);
    bf16[i] = static_cast<uint16_t>(bits >> 16);
    // Not `((i & 1) ? odd : even)[i / 2]`: in this AVX-512 region GCC 12 with ASan and UBSan
    // together computed a wild address for that store (seen at -O0 and -O2; either sanitizer
    // alone, and the plain build, were right).
    if (i & 1) {
      odd[i / 2] = v;
    } else {
      even[i / 2] = v;
    }
  }
  return true;
}

}  // namespace dsagent::engine::kernels::detail

#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
