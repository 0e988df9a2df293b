// The AVX-512 (F/BW/VL/DQ) variant of weight_dot.h. Compiled for that target whatever the build's
// baseline; called only when the CPU has it (cpu_isa.h).
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/cpu/weight_dequant.h"
#include "engine/kernels/cpu/weight_dot.h"

// Only the code below is compiled for the target: inline functions of the headers above keep the
// build's baseline, so the linker can never pick an AVX-512 copy of them for code that runs
// anywhere. GCC takes the target for the functions below from the pragma; clang ignores `GCC
// target` and needs the attribute applied to them instead.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif
// GCC 12 warns about the deliberately undefined vectors inside avx512fintrin.h's own intrinsics
// (a known false positive of -W(maybe-)uninitialized in those headers).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace dsagent::engine::kernels::detail {
namespace {

inline double Sum(__m512d v) { return _mm512_reduce_add_pd(v); }

// acc += w[0..15] * x[0..15] with w 16 floats, x 16 doubles.
inline void Fma16(__m512 w, const double* x, __m512d& acc0, __m512d& acc1) {
  acc0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(w)), _mm512_loadu_pd(x), acc0);
  acc1 =
      _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(w, 1)), _mm512_loadu_pd(x + 8), acc1);
}

// 16 e4m3 bytes as floats times 2^(scale_byte - 127). Each byte's bits are placed as an fp16
// (0EEEEMMM -> exponent EEEE, mantissa MMM << 7: the e4m3 value times 2^-8, subnormals included)
// and widened by the hardware conversion, which takes fp16 subnormals without the slow path that
// float subnormals cost; one multiply by 2^(scale_byte - 119) restores the value and applies the
// scale, exactly while it stays a normal float (Fp8ScaleFitsFloat). The placement: sign-extended
// to 16 bits and shifted left by 7, a byte has its sign in bits 15 and 14 and its magnitude in
// 13..7; clearing bit 14 leaves the fp16.
inline __m512 Fp8x16(const uint8_t* p, __m512 factor) {
  const __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i half =
      _mm256_and_si256(_mm256_slli_epi16(b, 7), _mm256_set1_epi16(static_cast<int16_t>(0xbfff)));
  return _mm512_mul_ps(_mm512_cvtph_ps(half), factor);
}

// The hardware prefetcher stops at 4 KiB page boundaries, and checkpoint weights are mapped in
// 4 KiB pages: each kernel asks for the bytes kPrefetchBytes ahead of what it reads (prefetches
// past the end of a row or mapping are harmless).
constexpr int64_t kPrefetchBytes = 2048;
inline void PrefetchAhead(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
}

inline __m512 Pow2(int exponent) {
  return _mm512_castsi512_ps(_mm512_set1_epi32((exponent + 127) << 23));
}

double RowFp8(const WeightRows& w, int64_t row, const DotInput& x) {
  const uint8_t* p = w.data + row * w.cols;
  const uint8_t* srow = w.scale + (row / 128) * w.scale_cols;
  const double* xv = x.values();
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  __m512d acc2 = _mm512_setzero_pd(), acc3 = _mm512_setzero_pd();
  double tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = (w.cols < c0 + 128 ? w.cols : c0 + 128);
    const uint8_t s = srow[c0 / 128];
    if (!Fp8ScaleFitsFloat(s) || (c1 - c0) % 16 != 0) {
      tail += WeightRowDotScalarRange(w, row, c0, c1, x);
      continue;
    }
    const __m512 factor = Pow2(s - 119);
    int64_t c = c0;
    for (; c + 32 <= c1; c += 32) {
      if (c % 64 == 0) PrefetchAhead(p + c);
      Fma16(Fp8x16(p + c, factor), xv + c, acc0, acc1);
      Fma16(Fp8x16(p + c + 16, factor), xv + c + 16, acc2, acc3);
    }
    if (c < c1) Fma16(Fp8x16(p + c, factor), xv + c, acc0, acc1);
  }
  return Sum(_mm512_add_pd(_mm512_add_pd(acc0, acc1), _mm512_add_pd(acc2, acc3))) + tail;
}

// 16 packed FP4 bytes (32 columns, one scale block): low nibbles are the even columns, high the
// odd ones; a 16-entry table lookup gives the e2m1 values with their signs.
double RowFp4(const WeightRows& w, int64_t row, const DotInput& x) {
  const uint8_t* p = w.data + row * (w.cols / 2);
  const uint8_t* srow = w.scale + row * w.scale_cols;
  const __m512 table = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f,
                                      -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  __m512d acc2 = _mm512_setzero_pd(), acc3 = _mm512_setzero_pd();
  double tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 32) {
    const uint8_t s = srow[c0 / 32];
    if (!Fp4ScaleFitsFloat(s) || c0 + 32 > w.cols) {
      tail += WeightRowDotScalarRange(w, row, c0, (w.cols < c0 + 32 ? w.cols : c0 + 32), x);
      continue;
    }
    // The table times the scale (exact for a scale in range); the permute reads only an index's
    // low four bits, so the low nibble needs no mask and the high one is a shift.
    const __m512 scaled = _mm512_mul_ps(table, Pow2(s - 127));
    if (c0 % 128 == 0) PrefetchAhead(p + c0 / 2);
    const __m512i b =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + c0 / 2)));
    Fma16(_mm512_permutexvar_ps(b, scaled), x.even() + c0 / 2, acc0, acc1);
    Fma16(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), scaled), x.odd() + c0 / 2, acc2, acc3);
  }
  return Sum(_mm512_add_pd(_mm512_add_pd(acc0, acc1), _mm512_add_pd(acc2, acc3))) + tail;
}

// 16 bf16 values as floats.
inline __m512 Bf16x16(const uint8_t* q) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(
      _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))), 16));
}

double RowBf16(const WeightRows& w, int64_t row, const DotInput& x) {
  const uint8_t* p = w.data + row * w.cols * 2;
  const double* xv = x.values();
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  __m512d acc2 = _mm512_setzero_pd(), acc3 = _mm512_setzero_pd();
  int64_t c = 0;
  for (; c + 32 <= w.cols; c += 32) {
    PrefetchAhead(p + 2 * c);
    Fma16(Bf16x16(p + 2 * c), xv + c, acc0, acc1);
    Fma16(Bf16x16(p + 2 * c + 32), xv + c + 16, acc2, acc3);
  }
  if (c + 16 <= w.cols) {
    Fma16(Bf16x16(p + 2 * c), xv + c, acc0, acc1);
    c += 16;
  }
  return Sum(_mm512_add_pd(_mm512_add_pd(acc0, acc1), _mm512_add_pd(acc2, acc3))) +
         WeightRowDotScalarRange(w, row, c, w.cols, x);
}

double RowF32(const WeightRows& w, int64_t row, const DotInput& x) {
  const float* p = reinterpret_cast<const float*>(w.data) + row * w.cols;
  const double* xv = x.values();
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  int64_t c = 0;
  for (; c + 16 <= w.cols; c += 16) Fma16(_mm512_loadu_ps(p + c), xv + c, acc0, acc1);
  return Sum(_mm512_add_pd(acc0, acc1)) + WeightRowDotScalarRange(w, row, c, w.cols, x);
}

}  // namespace

// The same per-format dispatch as the other variant's, written out in each file on purpose: a
// shared template would be instantiated under two targets with one mangled name, and the linker
// keeps one of them for both.
void WeightRowDotsAvx512(const WeightRows& w, int64_t row_begin, int64_t count, const DotInput& x,
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

double DotF64Avx512(const double* a, const double* b, int64_t n) {
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    acc0 = _mm512_fmadd_pd(_mm512_loadu_pd(a + k), _mm512_loadu_pd(b + k), acc0);
    acc1 = _mm512_fmadd_pd(_mm512_loadu_pd(a + k + 8), _mm512_loadu_pd(b + k + 8), acc1);
  }
  double sum = Sum(_mm512_add_pd(acc0, acc1));
  for (; k < n; ++k) sum += a[k] * b[k];
  return sum;
}

namespace {

// Keeps a loaded vector in a register: without it GCC folds the loads of the input vectors into
// the FMAs as memory operands, loading each of them once per weight row instead of once per
// step (measured: 3x4 tiles 14 -> 21 G multiply-adds/s on one core with the inputs in L2).
inline __m512d InRegister(__m512d v) {
  __asm__("" : "+v"(v));
  return v;
}

// One tile of DotsF64Avx512: R weight rows x T input rows, over the 16-column steps in columns
// [k0, k1) of n. Per (row, input) pair the arithmetic of DotF64Avx512(x_t, w_r, n), operation for
// operation: columns k..k+7 of each 16-column step into acc0, k+8..k+15 into acc1, then
// Sum(acc0 + acc1), then the scalar tail in column order; so every result has its bits. Each step
// loads R + T vectors per half and feeds R * T FMAs; the 2 * R * T accumulators stay in registers
// (every loop over R and T is unrolled: GCC 12 leaves such loops rolled and the arrays in memory
// otherwise). A pass that does not start at column 0 takes the accumulators from `state` (pair
// (r, t) at state + 16 * (t * state_stride + r), acc0's 8 lanes then acc1's), one that does not
// reach the last step leaves them there; the one that does writes out[t * out_stride + r]. Storing
// and reloading a vector does not change it, so the passes change nothing but where the operands
// come from.
template <int R, int T>
void DotTile(const double* w, int64_t w_stride, const double* x, int64_t x_stride, int64_t k0,
             int64_t k1, int64_t n, double* state, int64_t state_stride, double* out,
             int64_t out_stride) {
  __m512d acc0[R][T], acc1[R][T];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      if (k0 == 0) {
        acc0[r][t] = acc1[r][t] = _mm512_setzero_pd();
      } else {
        acc0[r][t] = _mm512_loadu_pd(state + 16 * (t * state_stride + r));
        acc1[r][t] = _mm512_loadu_pd(state + 16 * (t * state_stride + r) + 8);
      }
    }
  }
  int64_t k = k0;
  for (; k + 16 <= k1; k += 16) {
    __m512d wv[R], xv[T];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = InRegister(_mm512_loadu_pd(w + r * w_stride + k));
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) xv[t] = InRegister(_mm512_loadu_pd(x + t * x_stride + k));
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) acc0[r][t] = _mm512_fmadd_pd(xv[t], wv[r], acc0[r][t]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = InRegister(_mm512_loadu_pd(w + r * w_stride + k + 8));
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) xv[t] = InRegister(_mm512_loadu_pd(x + t * x_stride + k + 8));
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) acc1[r][t] = _mm512_fmadd_pd(xv[t], wv[r], acc1[r][t]);
    }
  }
  if (k + 16 <= n) {  // more steps to come in a later pass
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        _mm512_storeu_pd(state + 16 * (t * state_stride + r), acc0[r][t]);
        _mm512_storeu_pd(state + 16 * (t * state_stride + r) + 8, acc1[r][t]);
      }
    }
    return;
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const double* a = x + t * x_stride;
      const double* b = w + r * w_stride;
      double sum = Sum(_mm512_add_pd(acc0[r][t], acc1[r][t]));
      for (int64_t j = k; j < n; ++j) sum += a[j] * b[j];
      out[t * out_stride + r] = sum;
    }
  }
}

using DotTileFn = void (*)(const double*, int64_t, const double*, int64_t, int64_t, int64_t,
                           int64_t, double*, int64_t, double*, int64_t);

// The tile for every remainder shape: kTiles[R - 1][T - 1] (a plain table: this region uses no
// standard-library templates, whose instantiations would be weak symbols built for AVX-512).
static_assert(kDotsF64TileRows == 3 && kDotsF64TileInputs == 4);
constexpr DotTileFn kTiles[3][4] = {
    {&DotTile<1, 1>, &DotTile<1, 2>, &DotTile<1, 3>, &DotTile<1, 4>},
    {&DotTile<2, 1>, &DotTile<2, 2>, &DotTile<2, 3>, &DotTile<2, 4>},
    {&DotTile<3, 1>, &DotTile<3, 2>, &DotTile<3, 3>, &DotTile<3, 4>},
};

inline int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

}  // namespace

void DotsF64Avx512(const double* w, int64_t w_stride, int64_t rows, const double* x,
                   int64_t x_stride, int64_t inputs, int64_t n, double* out, int64_t out_stride,
                   double* pass_state) {
  // Passes of kDotsF64PassCols columns: within one, the rows' and a tile of inputs' columns stay
  // in cache while the tiles go over them (inputs outside, so a tile of input rows is read once
  // per pass; the caller's panel, sized for a pass, stays in L2). Rows of up to one pass (the
  // hidden size) take a single pass and no state.
  const int64_t steps_end = n - n % 16;
  for (int64_t k0 = 0; k0 == 0 || k0 < steps_end; k0 += kDotsF64PassCols) {
    const int64_t k1 = Min(steps_end, k0 + kDotsF64PassCols);
    for (int64_t t0 = 0; t0 < inputs; t0 += kDotsF64TileInputs) {
      const int64_t tn = Min(kDotsF64TileInputs, inputs - t0);
      for (int64_t r0 = 0; r0 < rows; r0 += kDotsF64TileRows) {
        const int64_t rn = Min(kDotsF64TileRows, rows - r0);
        kTiles[rn - 1][tn - 1](w + r0 * w_stride, w_stride, x + t0 * x_stride, x_stride, k0, k1, n,
                               pass_state == nullptr ? nullptr : pass_state + 16 * (t0 * rows + r0),
                               rows, out + t0 * out_stride + r0, out_stride);
      }
    }
  }
}

}  // namespace dsagent::engine::kernels::detail

namespace dsagent::engine::kernels::cpu::detail {
namespace {

using kernels::detail::Fp4ScaleFitsFloat;
using kernels::detail::Fp8ScaleFitsFloat;

// 16 floats as 16 doubles at out.
inline void Store16(__m512 v, double* out) {
  _mm512_storeu_pd(out, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  _mm512_storeu_pd(out + 8, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

}  // namespace

// The values of DequantRowRange (exact floats) as doubles, by the fused kernels' conversions:
// FP8 blocks with a scale in Fp8ScaleFitsFloat's range 16 columns at a time, FP4 blocks in
// Fp4ScaleFitsFloat's range 32 at a time (even and odd columns interleaved back), BF16 and F32
// 16 at a time; every other block and the tails through the scalar DequantRowRangeF64, so the
// values never depend on the variant.
void DequantRowF64Avx512(const WeightRows& w, int64_t r, double* out) {
  const int64_t cols = w.cols;
  switch (w.format) {
    case WeightFormat::kF32: {
      const float* p = reinterpret_cast<const float*>(w.data) + r * cols;
      int64_t c = 0;
      for (; c + 16 <= cols; c += 16) Store16(_mm512_loadu_ps(p + c), out + c);
      DequantRowRangeF64(w, r, c, cols, out + c);
      return;
    }
    case WeightFormat::kBF16: {
      const uint8_t* p = w.data + r * cols * 2;
      int64_t c = 0;
      for (; c + 16 <= cols; c += 16) Store16(kernels::detail::Bf16x16(p + 2 * c), out + c);
      DequantRowRangeF64(w, r, c, cols, out + c);
      return;
    }
    case WeightFormat::kFP8: {
      const uint8_t* p = w.data + r * cols;
      const uint8_t* srow = w.scale + (r / 128) * w.scale_cols;
      for (int64_t c0 = 0; c0 < cols; c0 += 128) {
        const int64_t c1 = kernels::detail::Min(cols, c0 + 128);
        const uint8_t s = srow[c0 / 128];
        int64_t c = c0;
        if (Fp8ScaleFitsFloat(s)) {
          const __m512 factor = kernels::detail::Pow2(s - 119);
          for (; c + 16 <= c1; c += 16) Store16(kernels::detail::Fp8x16(p + c, factor), out + c);
        }
        DequantRowRangeF64(w, r, c, c1, out + c);
      }
      return;
    }
    case WeightFormat::kFP4: {
      const uint8_t* p = w.data + r * (cols / 2);
      const uint8_t* srow = w.scale + r * w.scale_cols;
      const __m512 table = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f,
                                          -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
      // Columns 0..15 and 16..31 of a block from its 16 even (low nibble) and 16 odd values.
      const __m512i first =
          _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const __m512i second =
          _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      for (int64_t c0 = 0; c0 < cols; c0 += 32) {
        const uint8_t s = srow[c0 / 32];
        if (!Fp4ScaleFitsFloat(s) || c0 + 32 > cols) {
          DequantRowRangeF64(w, r, c0, kernels::detail::Min(cols, c0 + 32), out + c0);
          continue;
        }
        const __m512 scaled = _mm512_mul_ps(table, kernels::detail::Pow2(s - 127));
        const __m512i b =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + c0 / 2)));
        const __m512 even = _mm512_permutexvar_ps(b, scaled);
        const __m512 odd = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), scaled);
        Store16(_mm512_permutex2var_ps(even, first, odd), out + c0);
        Store16(_mm512_permutex2var_ps(even, second, odd), out + c0 + 16);
      }
      return;
    }
  }
}

}  // namespace dsagent::engine::kernels::cpu::detail

namespace dsagent::engine::kernels::detail {

void AxpyBf16F64Avx512(double a, const uint16_t* x, double* y, int64_t n) {
  const __m512d va = _mm512_set1_pd(a);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256i wide = _mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k))), 16);
    const __m512d v = _mm512_cvtps_pd(_mm256_castsi256_ps(wide));
    _mm512_storeu_pd(y + k, _mm512_fmadd_pd(va, v, _mm512_loadu_pd(y + k)));
  }
  AxpyBf16F64Scalar(a, x + k, y + k, n - k);
}

}  // namespace dsagent::engine::kernels::detail

#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
