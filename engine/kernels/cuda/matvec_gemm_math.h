// The schedule of the register-tiled kernel for many activation rows (matvec_gemm.cu): one CTA
// multiplies a tile of kGemmTileRows weight rows with up to kGemmTileInputs activation rows,
// decoding each weight value once for all of them. `__host__ __device__` like
// matvec_tiled_math.h, so the host test (tests/engine/kernels/cuda_gemm_matvec_math_test.cc)
// runs the kernel's very per-thread phases and checks every (row, input) against
// WeightRowDotsF32, bit for bit.
//
// Why it can be faster than the single-row kernel once per row while keeping its bits: that
// kernel spends about five ALU operations on every weight value for every row (decode, scale,
// shared-memory load, fma), so many rows cost many times the arithmetic, not the bytes. Here a
// K step (one 128-column block) first stages the tile: every thread decodes 16 weight values of
// one row to their lane values (the floats ItemChains multiplies by: FP8's e4m3 without the
// block scale, FP4's e2m1 times its group scale, BF16's value) into shared memory, and stages 4
// activation values (checked for being exact in bf16, as the pair order needs).
// Then thread (lane j, cell c) runs lane j's chains of the block — two fp32 FMAs per 32-column
// group, odd column first, in group order: the contract's block[j] — for 4 weight rows x 4
// inputs from registers, and folds each into its double lanes[j] in block order (FP8: one fma
// with the block's power-of-two scale). At the end a half-warp holds lanes 0..15 of its outputs
// and reduces them by shuffles in the contract's order. So each product costs one fma and a
// sixteenth of a decode, and every (row, input) sees exactly the single-row kernel's chains,
// block order and reduction.
//
// The rare cases as in the single-row kernel: a block half with an FP8 NaN byte recomputes its
// lanes (BlockLanePairSum, on the input's row in global memory); an FP4 group whose scale is
// outside the lane range is skipped by the chains and its row takes the tail (BlockPairTail); an
// input not exact in bf16 is recomputed in the columns order (the kernel: matvec_lanes.cuh; the
// host: RowDotBySharedLanes).
//
// The staging is double-buffered: while a block's chains run, every thread already holds the next
// block's raw bytes in registers (GemmLoad), and writes them decoded into the other buffer
// (GemmStore) before the block's one barrier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/matvec_tiled_math.h"

namespace dsagent::engine::kernels::cuda {

constexpr int kGemmThreads = 256;
constexpr int kGemmTileRows = 32;                                  // weight rows per CTA
constexpr int kGemmTileInputs = 8;                                 // activation rows per CTA
constexpr int kGemmRowsPerThread = 4;                              // a thread's weight rows ...
constexpr int kGemmInputsPerThread = 4;                            // ... times its inputs
constexpr int kGemmRowCells = kGemmTileRows / kGemmRowsPerThread;  // 8
static_assert(kGemmThreads / 16 == kGemmRowCells * (kGemmTileInputs / kGemmInputsPerThread),
              "the half-warps (cells) cover the tile");
// Staging: thread tid decodes 16 weight values of row tid / 8 (the block's piece tid % 8: group
// piece / 2, half piece % 2) and stages 4 activation values of input tid / 32.
static_assert(kGemmThreads == kGemmTileRows * 8 && kGemmThreads == kGemmTileInputs * 32,
              "one staging share per thread");

// The kernel's CTAs along the inputs (grid x) for `inputs` activation rows.
constexpr int64_t GemmInputTiles(int64_t inputs) {
  return (inputs + kGemmTileInputs - 1) / kGemmTileInputs;
}

// The bytes of last-CTA counts (last_cta.cuh) that an epilogue over 128-column output blocks
// needs: one unsigned per block of `columns` for each of `row_sets` sets of rows (the input tiles
// of a single weight, or the slots of the experts' pieces).
constexpr int64_t BlockArrivalsBytes(int64_t row_sets, int64_t columns) {
  return row_sets * (columns / 128) * static_cast<int64_t>(sizeof(unsigned));
}

// The CTA's shared memory (one static array in the kernel; the host test allocates the same).
struct GemmShared {
  float w[2][kGemmTileRows][kTiledBlockCols];    // lane values (GemmWeightSlot)
  float x[2][kGemmTileInputs][kTiledBlockCols];  // activation values (exact in bf16)
  double scale[2][kGemmTileRows];                // FP8: the block's scale
  uint8_t nan[2][kGemmTileRows][8];              // FP8: [half * 4 + group] has a NaN
  uint8_t skip[2][kGemmTileRows][4];             // FP4: group out of the lane range
  int row_tail[kGemmTileRows];                   // FP4: some group to the tail
  int not_exact[kGemmTileInputs];                // an input not exact in bf16
};

// GemmRowsSkipAGroup reads a row's four skip flags as one word (GemmAnyOfFourFlags).
static_assert(offsetof(GemmShared, skip) % 4 == 0, "a row's skip flags are 4-byte aligned");

// One CTA's tile: weight rows [row0, row0 + tile_rows), inputs 0..inputs-1: input m is row
// GemmInputRow(m) of y, whose outputs for the tile start at y, and row GemmInputRow(m) /
// x_row_slots of x (x_stride apart; the MoE's k slots of a token all read the token's row).
struct GemmTile {
  WeightView w;
  int64_t row0 = 0;
  int tile_rows = 0;  // 1..kGemmTileRows
  int inputs = 0;     // 1..kGemmTileInputs
  const float* x = nullptr;
  int64_t x_stride = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
  const int32_t* gather = nullptr;  // input m is row gather[m] (a piece of one expert's slots)
  int64_t x_row_slots = 1;          // consecutive inputs' rows that share one row of x
  bool round_bf16 = false;
};

DSAGENT_HD int64_t GemmInputRow(const GemmTile& t, int m) {
  return t.gather != nullptr ? int64_t{t.gather[m]} : int64_t{m};
}
// Input m's row of x; past the tile's inputs, its last one (read, never written).
DSAGENT_HD const float* GemmXRow(const GemmTile& t, int m) {
  return t.x + GemmInputRow(t, m < t.inputs ? m : t.inputs - 1) / t.x_row_slots * t.x_stride;
}
// Tile row o's weight row; past the tile's rows, its last one (read, never written).
DSAGENT_HD int64_t GemmWeightRow(const GemmTile& t, int o) {
  return t.row0 + (o < t.tile_rows ? o : t.tile_rows - 1);
}

// A thread's raw share of one block, loaded before the previous block's chains run.
template <WeightKind K>
struct GemmRegs {
  uint32_t w[K == WeightKind::kBF16 ? 8 : (K == WeightKind::kFP8 ? 4 : 2)];
  uint8_t s = 0;  // FP8: the block's scale byte; FP4: the group's
  float x[4];
};

// Where column col (0..127) of a weight row sits in GemmShared::w: in pieces of 16 columns (one
// thread stages one piece), chunk q (4 columns) of piece p at 16p + 4 (q ^ ((p >> 1) & 3)). The
// swizzle puts the same-numbered float4 stores of a quarter-warp's 8 pieces in 8 different bank
// groups (unswizzled: 4-way conflicts); a half-warp's reads of 16 column pairs of one group stay
// within the group's two pieces, conflict-free, and each pair stays adjacent.
DSAGENT_HD int GemmWeightSlot(int col) {
  const int p = col >> 4, q = (col >> 2) & 3;
  return (p << 4) | ((q ^ ((p >> 1) & 3)) << 2) | (col & 3);
}

DSAGENT_HD float LoadGlobalFloat(const float* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}

// Thread tid's raw share of block blk: 16 weight values' bytes of row tid / 8 and 4 activation
// values of input tid / 32.
template <WeightKind K>
DSAGENT_HD void GemmLoad(const GemmTile& t, int tid, int blk, GemmRegs<K>& g) {
  const int o = tid / 8, piece = tid % 8;
  const int64_t row = GemmWeightRow(t, o);
  const int64_t c = int64_t{blk} * kTiledBlockCols + 16 * piece;
  if constexpr (K == WeightKind::kFP8) {
    LoadWords<4>(t.w.data + row * t.w.cols + c, g.w);
    g.s = t.w.scale[(row / 128) * t.w.scale_cols + blk];
  } else if constexpr (K == WeightKind::kBF16) {
    const uint8_t* p = t.w.data + 2 * (row * t.w.cols + c);
    LoadWords<4>(p, g.w);
    LoadWords<4>(p + 16, g.w + 4);
  } else {
    static_assert(K == WeightKind::kFP4, "GemmLoad: BF16, FP8 or FP4");
    LoadWords<2>(t.w.data + (row * t.w.cols + c) / 2, g.w);
    g.s = t.w.scale[row * t.w.scale_cols + int64_t{blk} * 4 + piece / 2];
  }
  const float* xr = GemmXRow(t, tid / 32) + int64_t{blk} * kTiledBlockCols + 4 * (tid % 32);
  for (int q = 0; q < 4; ++q) g.x[q] = LoadGlobalFloat(xr + q);
}

// Thread tid's share decoded into buffer `buf`: the lane values exactly as ItemChains and
// Fp4Group compute them, the NaN / skip / scale facts of its row, its activation values (an
// input with a value not exact in bf16 is marked for the columns order).
template <WeightKind K>
DSAGENT_HD void GemmStore(const GemmTile& t, GemmShared& sh, int buf, int tid,
                          const GemmRegs<K>& g) {
  const int o = tid / 8, piece = tid % 8, group = piece / 2, half = piece % 2;
  float v[16];
  if constexpr (K == WeightKind::kFP8) {
    uint32_t nan = 0;
    DSAGENT_UNROLL
    for (int q = 0; q < 4; ++q) {
      DSAGENT_UNROLL
      for (int j = 0; j < 2; ++j) {
        const uint32_t pair = E4M3PairBf16(g.w[q], j);       // bytes j and j + 2 of word q
        v[4 * q + j] = Bf16LaneTimes<0>(pair, 0x7b800000u);  // times 2^120 (bf16)
        v[4 * q + j + 2] = Bf16LaneTimes<1>(pair, 0x7b800000u);
      }
    }
    DSAGENT_UNROLL
    for (int q = 0; q < 4; ++q) nan |= E4M3NanBytes(g.w[q]);
    sh.nan[buf][o][half * 4 + group] = nan != 0 ? 1 : 0;
    if (piece == 0) sh.scale[buf][o] = static_cast<double>(E8M0ToFloat(g.s));
  } else if constexpr (K == WeightKind::kBF16) {
    DSAGENT_UNROLL
    for (int m = 0; m < 8; ++m) {
      v[2 * m] = BitsFloat(g.w[m] << 16);
      v[2 * m + 1] = BitsFloat(g.w[m] & 0xffff0000u);
    }
  } else {
    const uint8_t s = g.s;
    const bool one = s <= 128;
    // bf16 2^(s-1), or 2^126 and then the scale (a second multiply past 128, as WeightAt).
    const uint32_t f = (one ? static_cast<uint32_t>(s) + 126u : 253u) << 23;
    const float scale = E8M0ToFloat(s);
    DSAGENT_UNROLL
    for (int w = 0; w < 2; ++w) {
      DSAGENT_UNROLL
      for (int j = 0; j < 4; ++j) {
        const uint32_t pair = E2M1PairBf16(g.w[w], j);  // nibbles j and j + 4 of word w
        v[8 * w + j] = Bf16LaneTimes<0>(pair, f);
        v[8 * w + j + 4] = Bf16LaneTimes<1>(pair, f);
      }
    }
    if (!one) {
      DSAGENT_UNROLL
      for (int n = 0; n < 16; ++n) v[n] *= scale;
    }
    const bool out_of_range = !Fp4ScaleInLaneRange(s);
    if (half == 0) sh.skip[buf][o][group] = out_of_range ? 1 : 0;
    if (out_of_range) RaiseFlag(&sh.row_tail[o]);
  }
  // The piece's four chunks of 4 values to their swizzled places (GemmWeightSlot).
  DSAGENT_UNROLL
  for (int q = 0; q < 4; ++q) {
    float* dst = sh.w[buf][o] + GemmWeightSlot(16 * piece + 4 * q);
#if defined(__CUDA_ARCH__)
    *reinterpret_cast<float4*>(dst) =
        make_float4(v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]);
#else
    std::memcpy(dst, v + 4 * q, 16);
#endif
  }
  const int m = tid / 32;
  bool exact = true;
  DSAGENT_UNROLL
  for (int q = 0; q < 4; ++q) exact = exact && ExactInBf16(g.x[q]);
  float* xd = sh.x[buf][m] + 4 * (tid % 32);
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<float4*>(xd) = make_float4(g.x[0], g.x[1], g.x[2], g.x[3]);
#else
  std::memcpy(xd, g.x, 16);
#endif
  if (!exact && m < t.inputs) RaiseFlag(&sh.not_exact[m]);
}

// Any of four flag bytes (4-byte aligned: an FP8 half's NaN flags, an FP4 row's skip flags) set:
// one word's load on the device.
DSAGENT_HD bool GemmAnyOfFourFlags(const uint8_t* four) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const uint32_t*>(four) != 0;
#else
  return (four[0] | four[1] | four[2] | four[3]) != 0;
#endif
}

// Lane j's chains of buffer `buf` for tile rows o0.. and inputs m0.. into acc: per 32-column
// group the odd column's fma, then the even one's, groups in order. kSkips: FP4 groups flagged
// out of the lane range are left out (their rows take the tail); without it no flag is read.
template <bool kSkips>
DSAGENT_HD void GemmChains(const GemmShared& sh, int buf, int j, int o0, int m0,
                           float (&acc)[kGemmRowsPerThread][kGemmInputsPerThread]) {
  DSAGENT_UNROLL
  for (int group = 0; group < 4; ++group) {
    float x_odd[kGemmInputsPerThread], x_even[kGemmInputsPerThread];
    DSAGENT_UNROLL
    for (int k = 0; k < kGemmInputsPerThread; ++k) {
      const float* xp = sh.x[buf][m0 + k] + 32 * group + 2 * j;
      x_even[k] = xp[0];
      x_odd[k] = xp[1];
    }
    DSAGENT_UNROLL
    for (int i = 0; i < kGemmRowsPerThread; ++i) {
      if constexpr (kSkips) {
        if (sh.skip[buf][o0 + i][group] != 0) continue;
      }
      const float* wp = sh.w[buf][o0 + i] + GemmWeightSlot(32 * group + 2 * j);
      const float w_even = wp[0], w_odd = wp[1];
      DSAGENT_UNROLL
      for (int k = 0; k < kGemmInputsPerThread; ++k) {
        acc[i][k] = PairStepFtz(acc[i][k], w_odd, x_odd[k]);
        acc[i][k] = PairStepFtz(acc[i][k], w_even, x_even[k]);
      }
    }
  }
}

// Any of the skip flags of FP4 tile rows o0.. (4 groups each) in buffer `buf` set.
DSAGENT_HD bool GemmRowsSkipAGroup(const GemmShared& sh, int buf, int o0) {
  bool any = false;
  DSAGENT_UNROLL
  for (int i = 0; i < kGemmRowsPerThread; ++i) any |= GemmAnyOfFourFlags(sh.skip[buf][o0 + i]);
  return any;
}

// Folds lane j's block sums acc (tile rows o0.., inputs m0.., block blk) into its double lanes:
// FP8 recomputes a half with a NaN byte first, then adds with one fma with the block's scale.
template <WeightKind K>
DSAGENT_HD void GemmFold(const GemmTile& t, const GemmShared& sh, int buf, int j, int o0, int m0,
                         int blk, float (&acc)[kGemmRowsPerThread][kGemmInputsPerThread],
                         double (&lanes)[kGemmRowsPerThread][kGemmInputsPerThread]) {
  const int64_t c0 = int64_t{blk} * kTiledBlockCols;
  DSAGENT_UNROLL
  for (int i = 0; i < kGemmRowsPerThread; ++i) {
    const int o = o0 + i;
    if constexpr (K == WeightKind::kFP8) {
      if (GemmAnyOfFourFlags(sh.nan[buf][o] + 4 * (j / 8))) {
        for (int k = 0; k < kGemmInputsPerThread; ++k) {
          acc[i][k] = BlockLanePairSum(t.w, GemmWeightRow(t, o), c0, c0 + kTiledBlockCols, j,
                                       GemmXRow(t, m0 + k));
        }
      }
    }
    DSAGENT_UNROLL
    for (int k = 0; k < kGemmInputsPerThread; ++k) {
      const double block = static_cast<double>(acc[i][k]);
      if constexpr (K == WeightKind::kFP8) {
        lanes[i][k] = fma(block, sh.scale[buf][o], lanes[i][k]);
      } else {
        lanes[i][k] += block;
      }
    }
  }
}

// Thread tid's part of one block from buffer `buf`: lane j's chains for its 4 rows x 4 inputs
// (the contract's block[j]), then GemmFold. FP4 reads its rows' skip flags once, and only a block
// with one set runs the chains that test them group by group (real checkpoints: none).
template <WeightKind K>
DSAGENT_HD void GemmBlock(const GemmTile& t, const GemmShared& sh, int buf, int tid, int blk,
                          double (&lanes)[kGemmRowsPerThread][kGemmInputsPerThread]) {
  const int j = tid & 15, cell = tid >> 4;
  const int o0 = (cell % kGemmRowCells) * kGemmRowsPerThread;
  const int m0 = (cell / kGemmRowCells) * kGemmInputsPerThread;
  float acc[kGemmRowsPerThread][kGemmInputsPerThread];
  DSAGENT_UNROLL
  for (int i = 0; i < kGemmRowsPerThread; ++i) {
    DSAGENT_UNROLL
    for (int k = 0; k < kGemmInputsPerThread; ++k) acc[i][k] = 0.0f;
  }
  if (K == WeightKind::kFP4 && GemmRowsSkipAGroup(sh, buf, o0)) {
    GemmChains<true>(sh, buf, j, o0, m0, acc);
  } else {
    GemmChains<false>(sh, buf, j, o0, m0, acc);
  }
  GemmFold<K>(t, sh, buf, j, o0, m0, blk, acc, lanes);
}

// The output of tile row o and input m from its reduced lanes (the caller skips rows and inputs
// past the tile's and inputs not exact in bf16): plus the flagged FP4 groups' tail.
DSAGENT_HD void GemmFinish(const GemmTile& t, const GemmShared& sh, int o, int m,
                           double lanes_sum) {
  const int64_t row = t.row0 + o;
  float tail = 0.0f;
  if (sh.row_tail[o] != 0) {
    const float* x = GemmXRow(t, m);
    for (int64_t c0 = 0; c0 < t.w.cols; c0 += kTiledBlockCols) {
      tail = BlockPairTail(t.w, row, c0, c0 + kTiledBlockCols, x, tail);
    }
  }
  const float v = static_cast<float>(lanes_sum + static_cast<double>(tail));
  t.y[GemmInputRow(t, m) * t.y_stride + o] = t.round_bf16 ? RoundBf16(v) : v;
}

// The kernel's CTA on the host, thread by thread and phase by phase (every thread's loads, then
// every thread's block, then every thread's stores: what the barriers order on the device).
template <WeightKind K>
inline void GemmTileOnHost(const GemmTile& t) {
  std::vector<GemmShared> shared(1);
  GemmShared& sh = shared[0];
  sh = GemmShared{};
  std::vector<GemmRegs<K>> regs(kGemmThreads);
  std::vector<double> lanes_store(kGemmThreads * kGemmRowsPerThread * kGemmInputsPerThread, 0.0);
  const auto lanes_of = [&](int tid) -> double(&)[kGemmRowsPerThread][kGemmInputsPerThread] {
    return *reinterpret_cast<double(*)[kGemmRowsPerThread][kGemmInputsPerThread]>(
        lanes_store.data() + tid * kGemmRowsPerThread * kGemmInputsPerThread);
  };
  const int blocks = static_cast<int>(t.w.cols / kTiledBlockCols);
  for (int tid = 0; tid < kGemmThreads; ++tid) {
    GemmLoad<K>(t, tid, 0, regs[tid]);
    GemmStore<K>(t, sh, 0, tid, regs[tid]);
  }
  for (int blk = 0; blk < blocks; ++blk) {
    const int buf = blk & 1;
    const bool next = blk + 1 < blocks;
    if (next) {
      for (int tid = 0; tid < kGemmThreads; ++tid) GemmLoad<K>(t, tid, blk + 1, regs[tid]);
    }
    for (int tid = 0; tid < kGemmThreads; ++tid) GemmBlock<K>(t, sh, buf, tid, blk, lanes_of(tid));
    if (next) {
      for (int tid = 0; tid < kGemmThreads; ++tid) GemmStore<K>(t, sh, buf ^ 1, tid, regs[tid]);
    }
  }
  // The half-warps' reductions: cell c's threads 16c .. 16c + 15 hold lanes 0..15.
  for (int cell = 0; cell < kGemmThreads / 16; ++cell) {
    const int o0 = (cell % kGemmRowCells) * kGemmRowsPerThread;
    const int m0 = (cell / kGemmRowCells) * kGemmInputsPerThread;
    for (int i = 0; i < kGemmRowsPerThread; ++i) {
      for (int k = 0; k < kGemmInputsPerThread; ++k) {
        const int o = o0 + i, m = m0 + k;
        if (o >= t.tile_rows || m >= t.inputs || sh.not_exact[m] != 0) continue;
        double lanes[16];
        for (int j = 0; j < 16; ++j) lanes[j] = lanes_of(16 * cell + j)[i][k];
        GemmFinish(t, sh, o, m, ReduceLanes16(lanes));
      }
    }
  }
  for (int m = 0; m < t.inputs; ++m) {
    if (sh.not_exact[m] == 0) continue;
    for (int o = 0; o < t.tile_rows; ++o) {
      const float v = RowDotBySharedLanes(t.w, t.row0 + o, GemmXRow(t, m), false);
      t.y[GemmInputRow(t, m) * t.y_stride + o] = t.round_bf16 ? RoundBf16(v) : v;
    }
  }
}

}  // namespace dsagent::engine::kernels::cuda
