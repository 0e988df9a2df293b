// The pair order of weight_dot_f32.h on AVX-512 BF16: one vdpbf16ps is one step of the contract's
// 16 lanes over a 32-column group (32 exact products, odd column first, denormals flushed), so
// the weights only have to become bf16 words in column order:
//   BF16  as stored;
//   FP8   two 128-entry byte tables (vpermi2b: the high and low byte of each e4m3 magnitude's
//         bf16), the code's sign ORed in, the bytes interleaved into words (vpermt2b);
//   FP4   each packed byte spread to a dword (low nibble in word 0, high nibble in word 1), then a
//         16-entry word table (vpermw) of the e2m1 values times the group's scale (the scale
//         added to the exponents of the non-zero entries: exact in range).
// The activation is the input's bf16 copy (DotInputF32::bf16()). Compiled for that target whatever
// the build's baseline; called only when CpuHasAvx512Bf16().
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/cpu/weight_dot_f32.h"

// Only the code below is compiled for the target (see weight_dot_avx512.cc).
#if defined(__clang__)
#pragma clang attribute push(                                                                \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vbmi,fma"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vbmi,fma")
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "engine/kernels/cpu/lanes16_avx512.h"

namespace dsagent::engine::kernels::detail {
namespace {

using Lanes = Lanes16;

inline __m512 Dot(__m512 acc, __m512i weights, __m512i x) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(weights), reinterpret_cast<__m512bh>(x));
}
inline __m512i LoadX(const DotInputF32& x, int64_t c) { return _mm512_loadu_si512(x.bf16() + c); }

// ---- FP8: e4m3 bytes to bf16 words -------------------------------------------------------------

// The bf16 bits of every e4m3 magnitude (the low 7 bits of a code), split into high and low bytes
// for vpermi2b, and the interleaving permutes. Built once.
struct Fp8Tables {
  alignas(64) uint8_t hi[128], lo[128];
  alignas(64) uint8_t first[64], second[64];  // vpermt2b indices: words 0..31, 32..63
};
const Fp8Tables& Fp8T() {
  static const Fp8Tables t = [] {
    Fp8Tables r{};
    for (int m = 0; m < 128; ++m) {
      const int exponent = (m >> 3) & 0xf, mantissa = m & 7;
      uint16_t bits;
      if (m == 0x7f) {
        bits = 0x7fc0;  // NaN
      } else if (exponent == 0) {
        // Subnormal e4m3: mantissa * 2^-9, a normal bf16 (or zero).
        float v = static_cast<float>(mantissa) / 512.0f;
        uint32_t u;
        std::memcpy(&u, &v, 4);
        bits = static_cast<uint16_t>(u >> 16);
      } else {
        // (1 + mantissa / 8) * 2^(exponent - 7): bf16 exponent exponent - 7 + 127, mantissa << 4.
        bits = static_cast<uint16_t>(((exponent + 120) << 7) | (mantissa << 4));
      }
      r.hi[m] = static_cast<uint8_t>(bits >> 8);
      r.lo[m] = static_cast<uint8_t>(bits & 0xff);
    }
    for (int k = 0; k < 32; ++k) {
      r.first[2 * k] = static_cast<uint8_t>(k);
      r.first[2 * k + 1] = static_cast<uint8_t>(64 + k);
      r.second[2 * k] = static_cast<uint8_t>(32 + k);
      r.second[2 * k + 1] = static_cast<uint8_t>(96 + k);
    }
    return r;
  }();
  return t;
}

struct Fp8Converter {
  __m512i hi0, hi1, lo0, lo1, first, second, sign;
  void Load() {
    const Fp8Tables& t = Fp8T();
    hi0 = _mm512_load_si512(t.hi);
    hi1 = _mm512_load_si512(t.hi + 64);
    lo0 = _mm512_load_si512(t.lo);
    lo1 = _mm512_load_si512(t.lo + 64);
    first = _mm512_load_si512(t.first);
    second = _mm512_load_si512(t.second);
    sign = _mm512_set1_epi8(static_cast<char>(0x80));
  }
  // 64 codes to 64 bf16 words in column order: w0 = columns 0..31, w1 = 32..63.
  void Convert(__m512i codes, __m512i& w0, __m512i& w1) const {
    // The low 7 bits index the tables; the code's sign becomes the word's (high byte | code &
    // 0x80).
    const __m512i high =
        _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, codes, hi1), codes, sign, 0xf8);
    const __m512i low = _mm512_permutex2var_epi8(lo0, codes, lo1);
    w0 = _mm512_permutex2var_epi8(low, first, high);
    w1 = _mm512_permutex2var_epi8(low, second, high);
  }
};

// ---- FP4: packed e2m1 nibbles to bf16 words ----------------------------------------------------

struct Fp4Converter {
  __m512i table, nibble_mask;
  void Load() {
    // The signed e2m1 values' bf16 bits in words 0..15 (0, .5, 1, 1.5, 2, 3, 4, 6, then negated).
    alignas(64) static const uint16_t kTable[32] = {0x0000, 0x3f00, 0x3f80, 0x3fc0, 0x4000, 0x4040,
                                                    0x4080, 0x40c0, 0x8000, 0xbf00, 0xbf80, 0xbfc0,
                                                    0xc000, 0xc040, 0xc080, 0xc0c0};
    table = _mm512_load_si512(kTable);
    nibble_mask = _mm512_set1_epi32(0x000f000f);
  }
  // The table times 2^(scale - 127): the exponent field of every non-zero entry moved by the
  // scale (words 0 and 8 are the zeros). Exact while the scale is in the float-exact range.
  __m512i Scaled(uint8_t scale) const {
    return _mm512_mask_add_epi16(table, 0xfefe, table,
                                 _mm512_set1_epi16(static_cast<int16_t>((scale - 127) * 128)));
  }
  // 16 packed bytes (32 columns) to 32 bf16 words in column order.
  __m512i Convert(const uint8_t* q, __m512i scaled) const {
    const __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    // (d | d << 12) & 0x000f000f: the low nibble in word 0, the high one in word 1.
    const __m512i idx = _mm512_ternarylogic_epi32(d, _mm512_slli_epi32(d, 12), nibble_mask, 0xa8);
    return _mm512_permutexvar_epi16(idx, scaled);
  }
};

// ---- One input, R weight rows at once ----------------------------------------------------------
// Each row keeps the contract's order (its own chain of vdpbf16ps per block); R rows give R
// independent chains to hide the instruction's latency, and share the activation loads. The batch
// kernel below with one input computes the same, but its per-block format switch cost a third of
// the FP8 rate in cache (measured), so one input has these.

template <int R>
void RowsBf16(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  const uint8_t* p[R];
  Lanes lanes[R];
  for (int r = 0; r < R; ++r) {
    p[r] = w.data + (row + r) * w.cols * 2;
    lanes[r] = ZeroLanes16();
  }
  const __m512d one = _mm512_set1_pd(1.0);
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R];
    for (int r = 0; r < R; ++r) block[r] = _mm512_setzero_ps();
    for (int64_t g = c0; g + 32 <= c1; g += 32) {
      const __m512i xv = LoadX(x, g);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) block[r] = Dot(block[r], _mm512_loadu_si512(p[r] + 2 * g), xv);
    }
    for (int r = 0; r < R; ++r) AddScaledBlock(lanes[r], block[r], one);
  }
  for (int r = 0; r < R; ++r) out[r] = FinishLanes16(lanes[r], PairTail(w, row + r, x));
}

template <int R>
void RowsFp8(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  Fp8Converter conv;
  conv.Load();
  const uint8_t* p[R];
  const uint8_t* srow[R];
  Lanes lanes[R];
  for (int r = 0; r < R; ++r) {
    p[r] = w.data + (row + r) * w.cols;
    srow[r] = w.scale + ((row + r) / 128) * w.scale_cols;
    lanes[r] = ZeroLanes16();
  }
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R];
    for (int r = 0; r < R; ++r) block[r] = _mm512_setzero_ps();
    int64_t g = c0;
    for (; g + 64 <= c1; g += 64) {
      const __m512i x0 = LoadX(x, g), x1 = LoadX(x, g + 32);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        __m512i w0, w1;
        conv.Convert(_mm512_loadu_si512(p[r] + g), w0, w1);
        block[r] = Dot(block[r], w0, x0);
        block[r] = Dot(block[r], w1, x1);
      }
    }
    if (g + 32 <= c1) {  // one more full group: its 32 codes alone
      const __m512i x0 = LoadX(x, g);
      for (int r = 0; r < R; ++r) {
        __m512i w0, w1;
        conv.Convert(_mm512_maskz_loadu_epi8(0xffffffffull, p[r] + g), w0, w1);
        block[r] = Dot(block[r], w0, x0);
      }
    }
    for (int r = 0; r < R; ++r)
      AddScaledBlock(lanes[r], block[r], _mm512_set1_pd(PairBlockScale(srow[r][c0 / 128])));
  }
  for (int r = 0; r < R; ++r) out[r] = FinishLanes16(lanes[r], PairTail(w, row + r, x));
}

template <int R>
void RowsFp4(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  Fp4Converter conv;
  conv.Load();
  const uint8_t* p[R];
  const uint8_t* srow[R];
  Lanes lanes[R];
  bool tail[R];
  for (int r = 0; r < R; ++r) {
    p[r] = w.data + (row + r) * (w.cols / 2);
    srow[r] = w.scale + (row + r) * w.scale_cols;
    lanes[r] = ZeroLanes16();
    tail[r] = w.cols % 32 != 0;
  }
  const __m512d one = _mm512_set1_pd(1.0);
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R];
    for (int r = 0; r < R; ++r) block[r] = _mm512_setzero_ps();
    for (int64_t g = c0; g + 32 <= c1; g += 32) {
      const __m512i xv = LoadX(x, g);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const uint8_t s = srow[r][g / 32];
        if (!Fp4ScaleFitsFloat(s)) {
          tail[r] = true;  // the group goes to the tail
          continue;
        }
        block[r] = Dot(block[r], conv.Convert(p[r] + g / 2, conv.Scaled(s)), xv);
      }
    }
    for (int r = 0; r < R; ++r) AddScaledBlock(lanes[r], block[r], one);
  }
  for (int r = 0; r < R; ++r)
    out[r] = FinishLanes16(lanes[r], tail[r] ? PairTail(w, row + r, x) : 0.0f);
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
      break;  // never takes pairs (TakesPairs)
  }
}

// ---- T inputs, one weight row: each weight group converted once ---------------------------------

template <int T>
void BatchRow(const WeightRows& w, int64_t row, const DotInputF32* const* xs, float* out,
              int64_t out_stride) {
  Fp8Converter fp8;
  Fp4Converter fp4;
  if (w.format == WeightFormat::kFP8) fp8.Load();
  if (w.format == WeightFormat::kFP4) fp4.Load();
  Lanes lanes[T];
  for (int t = 0; t < T; ++t) lanes[t] = ZeroLanes16();
  bool tail = w.cols % 32 != 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[T];
    for (int t = 0; t < T; ++t) block[t] = _mm512_setzero_ps();
    __m512d scale = _mm512_set1_pd(1.0);
    switch (w.format) {
      case WeightFormat::kBF16: {
        const uint8_t* p = w.data + row * w.cols * 2;
        for (int64_t g = c0; g + 32 <= c1; g += 32) {
          const __m512i wv = _mm512_loadu_si512(p + 2 * g);
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) block[t] = Dot(block[t], wv, LoadX(*xs[t], g));
        }
        break;
      }
      case WeightFormat::kFP8: {
        const uint8_t* p = w.data + row * w.cols;
        scale = _mm512_set1_pd(PairBlockScale(w.scale[(row / 128) * w.scale_cols + c0 / 128]));
        int64_t g = c0;
        for (; g + 64 <= c1; g += 64) {
          __m512i w0, w1;
          fp8.Convert(_mm512_loadu_si512(p + g), w0, w1);
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            block[t] = Dot(block[t], w0, LoadX(*xs[t], g));
            block[t] = Dot(block[t], w1, LoadX(*xs[t], g + 32));
          }
        }
        if (g + 32 <= c1) {
          __m512i w0, w1;
          fp8.Convert(_mm512_maskz_loadu_epi8(0xffffffffull, p + g), w0, w1);
          for (int t = 0; t < T; ++t) block[t] = Dot(block[t], w0, LoadX(*xs[t], g));
        }
        break;
      }
      case WeightFormat::kFP4: {
        const uint8_t* p = w.data + row * (w.cols / 2);
        const uint8_t* srow = w.scale + row * w.scale_cols;
        for (int64_t g = c0; g + 32 <= c1; g += 32) {
          const uint8_t s = srow[g / 32];
          if (!Fp4ScaleFitsFloat(s)) {
            tail = true;
            continue;
          }
          const __m512i wv = fp4.Convert(p + g / 2, fp4.Scaled(s));
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) block[t] = Dot(block[t], wv, LoadX(*xs[t], g));
        }
        break;
      }
      case WeightFormat::kF32:
        break;  // never takes pairs
    }
    for (int t = 0; t < T; ++t) AddScaledBlock(lanes[t], block[t], scale);
  }
  for (int t = 0; t < T; ++t) {
    out[t * out_stride] = FinishLanes16(lanes[t], tail ? PairTail(w, row, *xs[t]) : 0.0f);
  }
}

// Rows per pass of the single-input kernels. Measured with bench/weight_dot_bench (2026-12-03,
// this VM's AMD EPYC): reading from memory, one row at a time streams fastest for every format
// (two or four rows at once lost 10-60%, as with the columns order's FP8); in cache four rows
// gained nothing. Decode streams, so one; the template keeps the choice open for other CPUs.
// There is no software prefetch: the hardware prefetcher follows these sequential rows, and
// prefetching 1-8 KiB ahead as the columns order does cost up to 40% of the bf16 stream rate
// (docs/BENCHMARKS.md).
constexpr int kRowsAtOnce = 1;
// Inputs per pass of a weight row in the batch kernel.
constexpr int kInputsAtOnce = 4;

}  // namespace

void PairDotsAvx512Bf16(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32& x,
                        float* out) {
  int64_t i = 0;
  for (; i + kRowsAtOnce <= count; i += kRowsAtOnce)
    Rows<kRowsAtOnce>(w, row_begin + i, x, out + i);
  for (; i < count; ++i) Rows<1>(w, row_begin + i, x, out + i);
}

void PairDotsBatchAvx512Bf16(const WeightRows& w, int64_t row_begin, int64_t count,
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

}  // namespace dsagent::engine::kernels::detail

#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
