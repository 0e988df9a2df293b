// The pair order of weight_dot_f32.h on AVX-512 BF16: one vdpbf16ps is one step of the contract's
// 16 lanes over a 32-column group (32 exact products, odd column first, denormals flushed), so
// the weights only have to become bf16 words in column order:
//   BF16  as stored;
//   FP8   the codes put in unpack order (vpermb), two 128-entry byte tables (vpermi2b: the high
//         and low byte of each e4m3 magnitude's bf16), the code's sign ORed in, the bytes
//         interleaved into words by in-lane unpacks;
//   FP4   each packed byte spread to two words (vpermb), the odd one shifted to its high nibble,
//         then the e2m1 table times the group's scale (vpermw from one of 256 pre-scaled tables:
//         the scale added to the exponents of the non-zero entries, exact in range).
// The activation is the input's bf16 copy (DotInputF32::bf16()). Compiled for that target whatever
// the build's baseline; called only when CpuHasAvx512Bf16().
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

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
  // vpermb indices that order 64 codes so that the in-lane byte unpacks of Fp8Converter::Convert
  // give words in column order: unpacklo takes bytes 0..7 of each 16-byte lane L (columns
  // 8L..8L+7), unpackhi bytes 8..15 (columns 32 + 8L..).
  alignas(64) uint8_t order[64];
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
    for (int lane = 0; lane < 4; ++lane) {
      for (int i = 0; i < 8; ++i) {
        r.order[16 * lane + i] = static_cast<uint8_t>(8 * lane + i);
        r.order[16 * lane + 8 + i] = static_cast<uint8_t>(32 + 8 * lane + i);
      }
    }
    return r;
  }();
  return t;
}

struct Fp8Converter {
  __m512i hi0, hi1, lo0, lo1, order, sign;
  void Load() {
    const Fp8Tables& t = Fp8T();
    hi0 = _mm512_load_si512(t.hi);
    hi1 = _mm512_load_si512(t.hi + 64);
    lo0 = _mm512_load_si512(t.lo);
    lo1 = _mm512_load_si512(t.lo + 64);
    order = _mm512_load_si512(t.order);
    sign = _mm512_set1_epi8(static_cast<char>(0x80));
  }
  // 64 codes to 64 bf16 words in column order: w0 = columns 0..31, w1 = 32..63. The codes are
  // put in unpack order first (one single-source vpermb), so that two in-lane unpacks interleave
  // the high and low bytes where two two-source byte permutes did (measured: a probe of the
  // single-input loop in cache, 10-20% faster, the same words for every code).
  void Convert(__m512i codes, __m512i& w0, __m512i& w1) const {
    codes = _mm512_permutexvar_epi8(order, codes);
    // The low 7 bits index the tables; the code's sign becomes the word's (high byte | code &
    // 0x80).
    const __m512i high =
        _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, codes, hi1), codes, sign, 0xf8);
    const __m512i low = _mm512_permutex2var_epi8(lo0, codes, lo1);
    w0 = _mm512_unpacklo_epi8(low, high);
    w1 = _mm512_unpackhi_epi8(low, high);
  }
};

// ---- FP4: packed e2m1 nibbles to bf16 words ----------------------------------------------------

// The signed e2m1 values' bf16 bits (0, .5, 1, 1.5, 2, 3, 4, 6, then negated) times 2^(s - 127)
// for every scale byte s, each in words 0..15 and again in 16..31 (vpermw reads 5 index bits, and
// Fp4Converter::Convert leaves the high nibble's low bit in bit 4 of the even words). The scale
// moves the exponent field of every non-zero entry (words 0, 8, 16 and 24 are the zeros): exact
// while s is in the float-exact range (Fp4ScaleFitsFloat); the other entries are never read.
// Built once; 16 KiB, of which a layer's rows touch the few scales they use. Looking the scaled
// table up (vpermw can take it from memory) instead of building it per 32-column group (a
// broadcast and an add) ran the single-input kernel a third faster in cache (measured with a
// probe on this VM's AMD EPYC: 27.4 against 20.5 G weights/s).
struct Fp4Tables {
  alignas(64) uint16_t scaled[256][32];
};
const Fp4Tables& Fp4T() {
  static const Fp4Tables t = [] {
    static constexpr uint16_t kValues[16] = {0x0000, 0x3f00, 0x3f80, 0x3fc0, 0x4000, 0x4040,
                                             0x4080, 0x40c0, 0x8000, 0xbf00, 0xbf80, 0xbfc0,
                                             0xc000, 0xc040, 0xc080, 0xc0c0};
    Fp4Tables r{};
    for (int s = 0; s < 256; ++s) {
      for (int i = 0; i < 32; ++i) {
        const uint16_t v = kValues[i % 16];
        r.scaled[s][i] = (v & 0x7fff) == 0
                             ? v
                             : static_cast<uint16_t>(v + static_cast<uint16_t>((s - 127) * 128));
      }
    }
    return r;
  }();
  return t;
}

struct Fp4Converter {
  const Fp4Tables* tables;
  __m512i spread, shifts;
  void Load() {
    tables = &Fp4T();
    // Byte k of the group into the low byte of words 2k and 2k + 1 (vpermb; the high bytes are
    // zeroed by the mask in Convert).
    alignas(64) uint8_t idx[64];
    for (int j = 0; j < 64; ++j) idx[j] = static_cast<uint8_t>(j / 4);
    spread = _mm512_load_si512(idx);
    shifts = _mm512_set1_epi32(4 << 16);  // words 2k: 0, words 2k + 1: 4 (the high nibble)
  }
  // The e2m1 table times 2^(scale - 127) (Fp4Tables).
  __m512i Scaled(uint8_t scale) const { return _mm512_load_si512(tables->scaled[scale]); }
  // 16 packed bytes (32 columns) to 32 bf16 words in column order: each byte to two words (one
  // vpermb), the odd word shifted to its high nibble, then the table (vpermw). Three operations
  // where zero-extending to dwords and masking the nibbles took five.
  __m512i Convert(const uint8_t* q, __m512i scaled) const {
    const __m512i bytes =
        _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    const __m512i idx = _mm512_srlv_epi16(
        _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, spread, bytes), shifts);
    return _mm512_permutexvar_epi16(idx, scaled);
  }
};

// Blocks of one row summed side by side in the single-input kernels (see below). Measured with a
// streaming probe on this VM's AMD EPYC (2 threads, 268 MB of bf16 rows, 15 alternated rounds,
// docs/BENCHMARKS.md): one block at a time streamed at 88% of a plain streaming sum, two at
// 97-99%.
constexpr int kBlocksInFlight = 2;

// ---- One input, R weight rows at once, B blocks of each in flight ------------------------------
// Each row keeps the contract's order: every 128-column block is its own chain of vdpbf16ps from
// zero, and the block sums are folded into the row's double lanes in column order. Independent
// chains hide the instruction's latency: R rows share the activation loads, and B consecutive
// blocks of one row are summed side by side (written interleaved, so the chains' instructions
// are adjacent) and then folded in order, which gives the same bits as one block at a time. Rows
// past the last full run of B blocks go block by block. The batch kernel below with one input
// computes the same, but its per-block format switch cost a third of the FP8 rate in cache
// (measured), so one input has these.

// Drives a single-input kernel over a row's blocks: runs of kBlocksInFlight full blocks summed
// side by side, then the rest one block at a time (the last may be short), folding every block in
// column order. sum_blocks(c0, block[R][B], n) sums blocks c0, c0 + 128, ... of R rows over their
// first n columns; fold(r, block, c) folds row r's sum of the block at column c.
template <int R, class SumBlocks, class Fold>
inline void ForEachBlock(int64_t cols, SumBlocks&& sum_blocks, Fold&& fold) {
  int64_t c0 = 0;
  for (; c0 + 128 * kBlocksInFlight <= cols; c0 += 128 * kBlocksInFlight) {
    __m512 block[R][kBlocksInFlight];
    sum_blocks(c0, block, 128);
    for (int b = 0; b < kBlocksInFlight; ++b)
      for (int r = 0; r < R; ++r) fold(r, block[r][b], c0 + 128 * b);
  }
  for (; c0 < cols; c0 += 128) {
    __m512 block[R][1];
    sum_blocks(c0, block, (cols < c0 + 128 ? cols : c0 + 128) - c0);
    for (int r = 0; r < R; ++r) fold(r, block[r][0], c0);
  }
}

template <int R>
void RowsBf16(const WeightRows& w, int64_t row, const DotInputF32& x, float* out) {
  const uint8_t* p[R];
  Lanes lanes[R];
  for (int r = 0; r < R; ++r) {
    p[r] = w.data + (row + r) * w.cols * 2;
    lanes[r] = ZeroLanes16();
  }
  const __m512d one = _mm512_set1_pd(1.0);
  // block[r][b] = the sum of block b of row r over its 32-column groups [g0, g1).
  const auto sum_blocks = [&]<int B>(int64_t c0, __m512(&block)[R][B], int64_t g1) {
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < B; ++b) block[r][b] = _mm512_setzero_ps();
    for (int64_t g = 0; g + 32 <= g1; g += 32) {
#pragma GCC unroll 8
      for (int b = 0; b < B; ++b) {
        const int64_t c = c0 + 128 * b + g;
        const __m512i xv = LoadX(x, c);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r)
          block[r][b] = Dot(block[r][b], _mm512_loadu_si512(p[r] + 2 * c), xv);
      }
    }
  };
  ForEachBlock<R>(w.cols, sum_blocks,
                  [&](int r, __m512 block, int64_t) { AddScaledBlock(lanes[r], block, one); });
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
  // block[r][b] = the sum of block b of row r over its columns [c0 + 128 b, + n), n <= 128.
  const auto sum_blocks = [&]<int B>(int64_t c0, __m512(&block)[R][B], int64_t n) {
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < B; ++b) block[r][b] = _mm512_setzero_ps();
    int64_t g = 0;
    for (; g + 64 <= n; g += 64) {
#pragma GCC unroll 8
      for (int b = 0; b < B; ++b) {
        const int64_t c = c0 + 128 * b + g;
        const __m512i x0 = LoadX(x, c), x1 = LoadX(x, c + 32);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          __m512i w0, w1;
          conv.Convert(_mm512_loadu_si512(p[r] + c), w0, w1);
          block[r][b] = Dot(block[r][b], w0, x0);
          block[r][b] = Dot(block[r][b], w1, x1);
        }
      }
    }
    if (g + 32 <= n) {  // one more full group: its 32 codes alone (only a last, short block: B = 1)
      const int64_t c = c0 + g;
      const __m512i x0 = LoadX(x, c);
      for (int r = 0; r < R; ++r) {
        __m512i w0, w1;
        conv.Convert(_mm512_maskz_loadu_epi8(0xffffffffull, p[r] + c), w0, w1);
        block[r][0] = Dot(block[r][0], w0, x0);
      }
    }
  };
  ForEachBlock<R>(w.cols, sum_blocks, [&](int r, __m512 block, int64_t c) {
    AddScaledBlock(lanes[r], block, _mm512_set1_pd(PairBlockScale(srow[r][c / 128])));
  });
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
  // block[r][b] = the sum of block b of row r over its 32-column groups [g0, g1). A group whose
  // scale is out of the float-exact range goes to its row's tail instead.
  const auto sum_blocks = [&]<int B>(int64_t c0, __m512(&block)[R][B], int64_t g1) {
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < B; ++b) block[r][b] = _mm512_setzero_ps();
    for (int64_t g = 0; g + 32 <= g1; g += 32) {
#pragma GCC unroll 8
      for (int b = 0; b < B; ++b) {
        const int64_t c = c0 + 128 * b + g;
        const __m512i xv = LoadX(x, c);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          const uint8_t s = srow[r][c / 32];
          if (!Fp4ScaleFitsFloat(s)) {
            tail[r] = true;  // the group goes to the tail
            continue;
          }
          block[r][b] = Dot(block[r][b], conv.Convert(p[r] + c / 2, conv.Scaled(s)), xv);
        }
      }
    }
  };
  // ForEachBlock written out: through it this kernel ran 12% slower in cache (weight_dot_bench,
  // two alternated runs; BF16 and FP8 did not), so it keeps its own copy of the loop.
  int64_t c0 = 0;
  for (; c0 + 128 * kBlocksInFlight <= w.cols; c0 += 128 * kBlocksInFlight) {
    __m512 block[R][kBlocksInFlight];
    sum_blocks(c0, block, 128);
    for (int b = 0; b < kBlocksInFlight; ++b)
      for (int r = 0; r < R; ++r) AddScaledBlock(lanes[r], block[r][b], one);
  }
  for (; c0 < w.cols; c0 += 128) {
    __m512 block[R][1];
    sum_blocks(c0, block, (w.cols < c0 + 128 ? w.cols : c0 + 128) - c0);
    for (int r = 0; r < R; ++r) AddScaledBlock(lanes[r], block[r][0], one);
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

// ---- R weight rows x T inputs: the prefill (GEMM) path ----------------------------------------
// Each weight group is converted once for T inputs and each activation group loaded once for R
// rows; R x T independent vdpbf16ps chains hide the instruction's latency. The R x T double
// lanes stay in registers: kept in memory, the per-block fold (which costs about as much as the
// products it folds) ran at half the rate (measured). Every loop over the tile's rows and inputs
// carries `#pragma GCC unroll`: only with each block[r][t] and lanes[r][t] indexed by constants
// does GCC keep them in registers. Without the pragmas GCC 12 left the fold's loops rolled, with
// the lanes in memory, and the tiles ran at 0.5-0.7x their rate (weight_dot_bench and a probe,
// docs/BENCHMARKS.md). BF16 and FP4 fold with scale 1: an add, which is the fma's result.

// The next tile's weight bytes are prefetched into L2 (_MM_HINT_T2) as a tile reads the same
// columns of its own rows, so that the memory reads overlap the tile's compute. Measured with a
// probe streaming a 256 MB BF16 weight through the 2 x 4 tile with 4 inputs on one core (this
// VM's AMD EPYC): 23-24 -> 34-38 G products/s, alike for 2, 8 or 16 rows ahead; into L1 (T0) it
// gained nothing, and the single-input kernels above, which stream at the core's read bandwidth
// already, gained nothing either. The address of byte `offset` from `base` may lie past the end of
// the weight (the last tile's "next" rows): a prefetch never faults, and the address is formed
// as an integer, not as a pointer past the array.
inline void PrefetchL2(const uint8_t* base, int64_t offset) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(base) + offset),
               _MM_HINT_T2);
}

// block[r][t] += wv[r] . x[t][g, g + 32) for every r, t.
template <int R, int T>
inline void TileDots(__m512 (&block)[R][T], const __m512i* wv, const uint16_t* const* x,
                     int64_t g) {
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    const __m512i xv = _mm512_loadu_si512(x[t] + g);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) block[r][t] = Dot(block[r][t], wv[r], xv);
  }
}

template <int R, int T>
void TileBf16(const WeightRows& w, int64_t row, const uint16_t* const* x, Lanes (&lanes)[R][T]) {
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R][T];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) block[r][t] = _mm512_setzero_ps();
    for (int64_t g = c0; g + 32 <= c1; g += 32) {
      __m512i wv[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        wv[r] = _mm512_loadu_si512(w.data + ((row + r) * w.cols + g) * 2);
        PrefetchL2(w.data, ((row + R + r) * w.cols + g) * 2);
      }
      TileDots<R, T>(block, wv, x, g);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) AddBlock(lanes[r][t], block[r][t]);
  }
}

template <int R, int T>
void TileFp8(const WeightRows& w, int64_t row, const uint16_t* const* x, Lanes (&lanes)[R][T]) {
  Fp8Converter fp8;
  fp8.Load();
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R][T];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) block[r][t] = _mm512_setzero_ps();
    int64_t g = c0;
    for (; g + 64 <= c1; g += 64) {
      __m512i w0[R], w1[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        fp8.Convert(_mm512_loadu_si512(w.data + (row + r) * w.cols + g), w0[r], w1[r]);
        PrefetchL2(w.data, (row + R + r) * w.cols + g);
      }
      TileDots<R, T>(block, w0, x, g);
      TileDots<R, T>(block, w1, x, g + 32);
    }
    if (g + 32 <= c1) {  // one more full group: its 32 codes alone
      __m512i w0[R], w1[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
        fp8.Convert(_mm512_maskz_loadu_epi8(0xffffffffull, w.data + (row + r) * w.cols + g), w0[r],
                    w1[r]);
      TileDots<R, T>(block, w0, x, g);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512d scale =
          _mm512_set1_pd(PairBlockScale(w.scale[((row + r) / 128) * w.scale_cols + c0 / 128]));
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) AddScaledBlock(lanes[r][t], block[r][t], scale);
    }
  }
}

// A group whose scale is out of the float-exact range goes to its row's tail (tail[r] = true)
// and skips that row's dots, as the single-input kernel does (multiplying zero words instead
// would turn an infinite activation into NaN and could change the sign of a zero sum).
template <int R, int T>
void TileFp4(const WeightRows& w, int64_t row, const uint16_t* const* x, Lanes (&lanes)[R][T],
             bool* tail) {
  Fp4Converter fp4;
  fp4.Load();
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R][T];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) block[r][t] = _mm512_setzero_ps();
    for (int64_t g = c0; g + 32 <= c1; g += 32) {
      __m512i wv[R];
      bool fits[R], all = true;
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const uint8_t s = w.scale[(row + r) * w.scale_cols + g / 32];
        fits[r] = Fp4ScaleFitsFloat(s);
        if (fits[r]) wv[r] = fp4.Convert(w.data + (row + r) * (w.cols / 2) + g / 2, fp4.Scaled(s));
        if (g % 128 == 0) PrefetchL2(w.data, (row + R + r) * (w.cols / 2) + g / 2);  // a line
        all = all && fits[r];
      }
      if (all) {
        TileDots<R, T>(block, wv, x, g);
        continue;
      }
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {  // rare: scales at the ends of e8m0's range
        if (!fits[r]) {
          tail[r] = true;
          continue;
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
          block[r][t] = Dot(block[r][t], wv[r], _mm512_loadu_si512(x[t] + g));
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) AddBlock(lanes[r][t], block[r][t]);
  }
}

template <int R, int T>
void BatchTile(const WeightRows& w, int64_t row, const DotInputF32* const* xs, float* out,
               int64_t out_stride) {
  const uint16_t* x[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) x[t] = xs[t]->bf16();
  Lanes lanes[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) lanes[r][t] = ZeroLanes16();
  bool tail[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) tail[r] = w.cols % 32 != 0;
  switch (w.format) {
    case WeightFormat::kBF16:
      TileBf16<R, T>(w, row, x, lanes);
      break;
    case WeightFormat::kFP8:
      TileFp8<R, T>(w, row, x, lanes);
      break;
    case WeightFormat::kFP4:
      TileFp4<R, T>(w, row, x, lanes, tail);
      break;
    case WeightFormat::kF32:
      break;  // never takes pairs
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      out[t * out_stride + r] =
          FinishLanes16(lanes[r][t], tail[r] ? PairTail(w, row + r, *xs[t]) : 0.0f);
}

// Rows per pass of the single-input kernels. Measured with bench/weight_dot_bench (2026-12-03,
// this VM's AMD EPYC): reading from memory, one row at a time streams fastest for every format
// (two or four rows at once lost 10-60%, as with the columns order's FP8); in cache four rows
// gained nothing. Decode streams, so one; the template keeps the choice open for other CPUs.
// There is no software prefetch: the hardware prefetcher follows these sequential rows, and
// prefetching 1-8 KiB ahead as the columns order does cost up to 40% of the bf16 stream rate
// (docs/BENCHMARKS.md).
constexpr int kRowsAtOnce = 1;
// The batch kernel's tile per format: weight rows x inputs per pass. Measured with
// `weight_dot_bench cached fast 24` on this VM's AMD EPYC (docs/BENCHMARKS.md): the block sums and
// the double lanes of the whole tile must stay in registers (a larger tile spills them and loses
// up to half), and FP8/FP4 amortise their conversion over more inputs. A tile's R x T block sums
// are its independent vdpbf16ps chains, and with fewer than ~6 the instruction's latency bounds
// it: FP4's tile was 1 x 6, and a batched decode's experts get 2-4 rows each, so two rows per
// tile instead ran them 8-15% faster (a probe, 2026-12-04: 2 inputs 28.8 -> 32.1, 3 inputs 33.2
// -> 35.9, 4 inputs 36.0 -> 39.0 G products/s in cache, best of 4 alternated).
struct TileShape {
  int rows, inputs;
};
constexpr TileShape kTileBf16{2, 4}, kTileFp8{2, 6}, kTileFp4{2, 4};

// f(std::integral_constant<int, n>) for a runtime n in [1, N].
template <int N, typename F>
void ForInputCount(int64_t n, F&& f) {
  if (n == N) {
    f(std::integral_constant<int, N>{});
  } else if constexpr (N > 1) {
    ForInputCount<N - 1>(n, f);
  }
}

// Rows [row_begin, +count) of W against the T inputs xs: tiles of R rows, then the last rows one
// at a time.
template <int R, int T>
void RowTiles(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32* const* xs,
              float* out, int64_t out_stride) {
  int64_t i = 0;
  for (; i + R <= count; i += R) BatchTile<R, T>(w, row_begin + i, xs, out + i, out_stride);
  for (; i < count; ++i) BatchTile<1, T>(w, row_begin + i, xs, out + i, out_stride);
}

// Every (row, input) pair of W[row_begin, +count) x inputs in tiles of R x T; the last n < T
// inputs in tiles of R x n.
template <int R, int T>
void BatchTiles(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32* inputs,
                int64_t n_inputs, float* out, int64_t out_stride) {
  for (int64_t t0 = 0; t0 < n_inputs; t0 += T) {
    const DotInputF32* xs[T];
    const int64_t n = n_inputs - t0 < T ? n_inputs - t0 : T;
    for (int64_t t = 0; t < n; ++t) xs[t] = &inputs[t0 + t];
    ForInputCount<T>(n, [&](auto inputs_now) {
      RowTiles<R, decltype(inputs_now)::value>(w, row_begin, count, xs, out + t0 * out_stride,
                                               out_stride);
    });
  }
}

// ---- Converted panels: FP8 and FP4 rows converted once for many inputs -------------------------
// With many inputs (a prefill), converting the weights — four byte permutes per 64 FP8 codes —
// cost about as much as the products even amortised over a 2 x 6 tile (measured). So R rows are
// first converted into a panel of bf16 words, exactly the words the tiles above feed vdpbf16ps
// (FP8 codes unscaled, FP4 values times their group scale), with each row's FP8 block scales;
// then the BF16 tile runs over the panel for every input. The bits do not change: each (row,
// input) pair still takes the same products in the same order.

struct Panel {
  std::vector<uint16_t> words;  // [R][cols], full 32-column groups only
  std::vector<double> scales;   // FP8: [R][blocks] block scales; empty for FP4
};

// Converts rows [row, row + R) into `panel`. False when one of them has an FP4 group whose scale
// is out of the float-exact range (its products go to the tail): those rows take the tiles.
template <int R>
bool ConvertPanel(const WeightRows& w, int64_t row, Panel& panel) {
  const int64_t blocks = (w.cols + 127) / 128;
  panel.words.resize(static_cast<size_t>(R * w.cols));
  if (w.format == WeightFormat::kFP8) {
    panel.scales.resize(static_cast<size_t>(R * blocks));
    Fp8Converter fp8;
    fp8.Load();
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = w.data + (row + r) * w.cols;
      uint16_t* out = panel.words.data() + r * w.cols;
      __m512i w0, w1;
      int64_t c = 0;
      for (; c + 64 <= w.cols; c += 64) {
        fp8.Convert(_mm512_loadu_si512(p + c), w0, w1);
        _mm512_storeu_si512(out + c, w0);
        _mm512_storeu_si512(out + c + 32, w1);
      }
      if (c + 32 <= w.cols) {
        fp8.Convert(_mm512_maskz_loadu_epi8(0xffffffffull, p + c), w0, w1);
        _mm512_storeu_si512(out + c, w0);
      }
      const uint8_t* srow = w.scale + ((row + r) / 128) * w.scale_cols;
      for (int64_t b = 0; b < blocks; ++b) panel.scales[r * blocks + b] = PairBlockScale(srow[b]);
    }
    return true;
  }
  panel.scales.clear();
  Fp4Converter fp4;
  fp4.Load();
  for (int r = 0; r < R; ++r) {
    const uint8_t* p = w.data + (row + r) * (w.cols / 2);
    const uint8_t* srow = w.scale + (row + r) * w.scale_cols;
    uint16_t* out = panel.words.data() + r * w.cols;
    for (int64_t g = 0; g + 32 <= w.cols; g += 32) {
      const uint8_t s = srow[g / 32];
      if (!Fp4ScaleFitsFloat(s)) return false;
      _mm512_storeu_si512(out + g, fp4.Convert(p + g / 2, fp4.Scaled(s)));
    }
  }
  return true;
}

// The R x T tile of BatchTile over a converted panel of rows [row, row + R); kScaled: the panel
// has FP8 block scales.
template <int R, int T, bool kScaled>
void PanelTile(const Panel& panel, const WeightRows& w, int64_t row, const DotInputF32* const* xs,
               float* out, int64_t out_stride) {
  const uint16_t* x[T];
  for (int t = 0; t < T; ++t) x[t] = xs[t]->bf16();
  Lanes lanes[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) lanes[r][t] = ZeroLanes16();
  const int64_t blocks = (w.cols + 127) / 128;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * 128, c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    __m512 block[R][T];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) block[r][t] = _mm512_setzero_ps();
    for (int64_t g = c0; g + 32 <= c1; g += 32) {
      __m512i wv[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) wv[r] = _mm512_loadu_si512(panel.words.data() + r * w.cols + g);
      TileDots<R, T>(block, wv, x, g);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      if constexpr (kScaled) {
        const __m512d scale = _mm512_set1_pd(panel.scales[r * blocks + b]);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) AddScaledBlock(lanes[r][t], block[r][t], scale);
      } else {
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) AddBlock(lanes[r][t], block[r][t]);
      }
    }
  }
  const bool tail = w.cols % 32 != 0;
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t)
      out[t * out_stride + r] =
          FinishLanes16(lanes[r][t], tail ? PairTail(w, row + r, *xs[t]) : 0.0f);
}

// Every (row, input) pair in panels of R rows and tiles of R x T; rows a panel cannot take (the
// last count % R, FP4 rows with out-of-range scales) go to BatchTiles<FR, FT>.
template <int R, int T, int FR, int FT>
void PanelTiles(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32* inputs,
                int64_t n_inputs, float* out, int64_t out_stride) {
  thread_local Panel panel;
  const int64_t row_bytes = w.format == WeightFormat::kFP4 ? w.cols / 2 : w.cols;
  int64_t i = 0;
  for (; i + R <= count; i += R) {
    // The next panel's stored rows into L2 while this one's tiles compute (see PrefetchL2).
    const int64_t next = (row_begin + i + R) * row_bytes;
    for (int64_t b = 0; b < R * row_bytes; b += 64) PrefetchL2(w.data, next + b);
    if (!ConvertPanel<R>(w, row_begin + i, panel)) {
      BatchTiles<FR, FT>(w, row_begin + i, R, inputs, n_inputs, out + i, out_stride);
      continue;
    }
    for (int64_t t0 = 0; t0 < n_inputs; t0 += T) {
      const int64_t n = n_inputs - t0 < T ? n_inputs - t0 : T;
      const DotInputF32* xs[T];
      for (int64_t t = 0; t < n; ++t) xs[t] = &inputs[t0 + t];
      ForInputCount<T>(n, [&](auto inputs_now) {
        constexpr int kInputs = decltype(inputs_now)::value;
        if (panel.scales.empty()) {
          PanelTile<R, kInputs, false>(panel, w, row_begin + i, xs, out + t0 * out_stride + i,
                                       out_stride);
        } else {
          PanelTile<R, kInputs, true>(panel, w, row_begin + i, xs, out + t0 * out_stride + i,
                                      out_stride);
        }
      });
    }
  }
  if (i < count)
    BatchTiles<FR, FT>(w, row_begin + i, count - i, inputs, n_inputs, out + i, out_stride);
}

// The panel's shape (as the BF16 tile), and from how many inputs converting a panel first pays
// (weight_dot_bench cached fast N).
constexpr TileShape kPanelTile{2, 4};
constexpr int64_t kPanelMinInputs = 8;

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
  switch (w.format) {
    case WeightFormat::kBF16:
      return BatchTiles<kTileBf16.rows, kTileBf16.inputs>(w, row_begin, count, inputs, n_inputs,
                                                          out, out_stride);
    case WeightFormat::kFP8:
      if (n_inputs >= kPanelMinInputs)
        return PanelTiles<kPanelTile.rows, kPanelTile.inputs, kTileFp8.rows, kTileFp8.inputs>(
            w, row_begin, count, inputs, n_inputs, out, out_stride);
      return BatchTiles<kTileFp8.rows, kTileFp8.inputs>(w, row_begin, count, inputs, n_inputs, out,
                                                        out_stride);
    case WeightFormat::kFP4:
      if (n_inputs >= kPanelMinInputs)
        return PanelTiles<kPanelTile.rows, kPanelTile.inputs, kTileFp4.rows, kTileFp4.inputs>(
            w, row_begin, count, inputs, n_inputs, out, out_stride);
      return BatchTiles<kTileFp4.rows, kTileFp4.inputs>(w, row_begin, count, inputs, n_inputs, out,
                                                        out_stride);
    case WeightFormat::kF32:
      break;  // never takes pairs
  }
}

}  // namespace dsagent::engine::kernels::detail

#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
