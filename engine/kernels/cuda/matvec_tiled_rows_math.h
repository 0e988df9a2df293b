// The schedule of the multi-row tiled MatVec (matvec_tiled_rows.cu): one CTA multiplies a tile
// of kRowsTile weight rows with up to kRowsGroup activation rows ("inputs"), reading each weight
// byte once for all of them. `__host__ __device__` like matvec_tiled_math.h, so the host test
// (tests/engine/kernels/cuda_tiled_matvec_math_test.cc) runs the kernel's very per-thread steps —
// every thread's items, then every thread's fold, chunk by chunk — and checks each input's
// outputs against WeightRowDotsF32 (the single-row tiled kernel's bits), bit for bit.
//
// Why the columns go in chunks: the contract folds a row's block sums in block order into double
// lanes. The single-row kernel keeps every block sum of its tile in shared memory and folds at
// the end; with 8 inputs that would take 8x the shared memory. Here the CTA walks the columns in
// chunks of kRowsChunkBlocks blocks: it stages the inputs' chunk of columns (xs), every thread
// computes its items of the chunk (weight words loaded once, then the eight chains per input:
// ItemChains, the single-row kernel's arithmetic) into the chunk's block sums (sums), and then
// every thread folds its (row, input, lane) sums of the chunk, in block order, into double
// accumulators it keeps in registers across the chunks. Each (row, input) pair therefore sees the
// same chains, the same block order and the same lane reduction as one row of the single-row
// kernel: the same bits.
//
// Shared memory per CTA: xs [kRowsGroup][kRowsXStride] floats, sums [kRowsTile][kRowsGroup]
// [kRowsSumStride] floats, tail flags [kRowsTile] ints (RowsSharedBytes: 106.6 KB, two CTAs per
// SM on a Hopper).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/matvec_tiled_math.h"

namespace dsagent::engine::kernels::cuda {

constexpr int kRowsThreads = 256;
constexpr int kRowsTile = 16;        // weight rows per CTA
constexpr int kRowsGroup = 8;        // activation rows per CTA
constexpr int kRowsChunkBlocks = 8;  // 128-column blocks per chunk
constexpr int kRowsXStride = kRowsChunkBlocks * kTiledBlockCols;
// Floats per (row, input) in the block sums: 16 per block plus a pad of 16, so that the two
// inputs a warp folds at once (RowsFoldInput of neighbouring half-warps) sit 16 banks apart.
constexpr int kRowsSumStride = kRowsChunkBlocks * 16 + 16;
// Accumulators per thread in the fold: (row, input, lane) triples over the threads.
constexpr int kRowsFoldRows = kRowsTile * kRowsGroup * 16 / kRowsThreads;
// Rows of the tile one fold slot steps over (slots = threads / 16 lanes, kRowsGroup inputs each).
constexpr int kRowsFoldRowStep = kRowsThreads / 16 / kRowsGroup;
static_assert(kRowsFoldRows * kRowsFoldRowStep == kRowsTile, "the fold covers the tile's rows");

constexpr int64_t RowsSharedFloats() {
  return int64_t{kRowsGroup} * kRowsXStride + int64_t{kRowsTile} * kRowsGroup * kRowsSumStride;
}
// The dynamic shared memory of a CTA: xs and sums, then the tail flags.
constexpr int64_t RowsSharedBytes() { return RowsSharedFloats() * 4 + kRowsTile * 4; }

// Where the block sums of (tile row r, input m, chunk block b) start (16 floats: lanes 0..15).
DSAGENT_HD int RowsSumIndex(int r, int m, int b) {
  return (r * kRowsGroup + m) * kRowsSumStride + b * 16;
}
// The fold's thread mapping: thread tid takes lane tid & 15 of input RowsFoldInput(tid) and of
// the rows RowsFoldRow(tid, k), k < kRowsFoldRows. A half-warp shares its (row, input) pairs, so
// the lanes reduce by shuffles within it.
DSAGENT_HD int RowsFoldInput(int tid) { return (tid >> 4) % kRowsGroup; }
DSAGENT_HD int RowsFoldRow(int tid, int k) {
  return (tid >> 4) / kRowsGroup + kRowsFoldRowStep * k;
}

// One CTA's tile and inputs, and the chunk being worked on.
struct RowsTile {
  WeightView w;
  int64_t row0 = 0;   // the weight row of tile row 0
  int tile_rows = 0;  // <= kRowsTile
  int inputs = 0;     // <= kRowsGroup
  const float* x = nullptr;  // input 0 (the whole row; the rare paths read it), inputs x_stride apart
  int64_t x_stride = 0;
  int blk0 = 0, nb = 0;      // the chunk: blocks [blk0, blk0 + nb)
  const float* xs = nullptr;  // the chunk's columns of every input (shared)
  float* sums = nullptr;      // the chunk's block sums (shared)
  int* tail_flags = nullptr;  // per tile row (shared): an FP4 group goes to the tail
  // Input m's row of x (and of the output): gather[m], or m without a list (the routed experts'
  // slots of one expert, expert_groups_math.h).
  const int32_t* gather = nullptr;
};

DSAGENT_HD int64_t RowsInput(const RowsTile& t, int m) {
  return t.gather != nullptr ? int64_t{t.gather[m]} : int64_t{m};
}

// Stages value i (0 <= i < inputs * kRowsXStride, a thread's share: i = tid, tid + threads, ...)
// of the chunk's columns; returns the input's bit in the not-exact-in-bf16 mask (0 when exact or
// past the chunk's columns).
DSAGENT_HD uint32_t RowsStageX(const RowsTile& t, int i, float* xs) {
  const int m = i / kRowsXStride, c = i % kRowsXStride;
  if (c >= t.nb * kTiledBlockCols) return 0;
  const float v = t.x[RowsInput(t, m) * t.x_stride + int64_t{t.blk0} * kTiledBlockCols + c];
  xs[i] = v;
  return ExactInBf16(v) ? 0u : (1u << m);
}

// Thread tid's items of the chunk: (tile row r, chunk block b, half h), h fastest, then b, then r
// (a warp reads 16 neighbouring half-blocks of two rows). Each item's words are loaded once, then
// run against every input, leaving eight block sums per input.
template <WeightKind K>
DSAGENT_HD void RowsChunkItems(const RowsTile& t, int tid) {
  const int items = t.tile_rows * t.nb * 2;
  for (int it = tid; it < items; it += kRowsThreads) {
    const int h = it & 1, b = (it >> 1) % t.nb, r = (it >> 1) / t.nb;
    const int blk = t.blk0 + b;
    const int64_t row = t.row0 + r;
    ItemWords<K> words;
    LoadItem<K>(t.w, row, blk, h, words);
    for (int m = 0; m < t.inputs; ++m) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      const float* xb = t.xs + m * kRowsXStride + b * kTiledBlockCols + 16 * h;
      if (!ItemChains<K>(words, xb, acc, &t.tail_flags[r])) {
        // An FP8 NaN byte: the generic code, on the input's whole row.
        const int64_t c0 = int64_t{blk} * kTiledBlockCols;
        for (int j = 0; j < 8; ++j) {
          acc[j] = BlockLanePairSum(t.w, row, c0, c0 + kTiledBlockCols, 8 * h + j,
                                    t.x + RowsInput(t, m) * t.x_stride);
        }
      }
      float* dst = t.sums + RowsSumIndex(r, m, b) + 8 * h;
#if defined(__CUDA_ARCH__)
      reinterpret_cast<float4*>(dst)[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
      reinterpret_cast<float4*>(dst)[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
#else
      for (int j = 0; j < 8; ++j) dst[j] = acc[j];
#endif
    }
  }
}

// Thread tid's fold of the chunk: its lane of each of its (row, input) pairs, block by block in
// order, into acc[k] (the contract's lanes[lane] += double(block[lane]) * scale; FP8's product is
// exact, so one fma).
template <WeightKind K>
DSAGENT_HD void RowsChunkFold(const RowsTile& t, int tid, double* acc) {
  const int m = RowsFoldInput(tid), lane = tid & 15;
  if (m >= t.inputs) return;
  DSAGENT_UNROLL
  for (int k = 0; k < kRowsFoldRows; ++k) {
    const int r = RowsFoldRow(tid, k);
    if (r >= t.tile_rows) continue;
    const float* s = t.sums + RowsSumIndex(r, m, 0) + lane;
    for (int b = 0; b < t.nb; ++b) {
      const double block = static_cast<double>(s[b * 16]);
      if constexpr (K == WeightKind::kFP8) {
        acc[k] = fma(block, BlockPairScale(t.w, t.row0 + r, int64_t{t.blk0 + b} * kTiledBlockCols),
                     acc[k]);
      } else {
        acc[k] += block;
      }
    }
  }
}

// The row's dot from its reduced lanes: plus the tail of the flagged FP4 groups (on the input's
// whole row), rounded to bf16 when asked.
DSAGENT_HD float RowsFinish(const WeightView& w, int64_t row, double lanes_sum, bool tail_flag,
                            const float* x, bool round_bf16) {
  float tail = 0.0f;
  if (tail_flag) {
    for (int64_t c0 = 0; c0 < w.cols; c0 += kTiledBlockCols) {
      tail = BlockPairTail(w, row, c0, c0 + kTiledBlockCols, x, tail);
    }
  }
  const float v = static_cast<float>(lanes_sum + static_cast<double>(tail));
  return round_bf16 ? RoundBf16(v) : v;
}

// The kernel's CTA on the host, thread by thread and phase by phase: rows [row0, row0 +
// tile_rows) of w times `inputs` rows of x -> y[m * y_stride + r] (r the tile row; with `gather`,
// input m is row gather[m] of x and of y). An input not
// exact in bf16 takes the columns order (the kernel's lanes fallback; RowDotBySharedLanes here).
template <WeightKind K>
inline void RowsTileOnHost(const WeightView& w, int64_t row0, int tile_rows, const float* x,
                           int64_t x_stride, int inputs, float* y, int64_t y_stride,
                           bool round_bf16, const int32_t* gather = nullptr) {
  std::vector<float> shared_buffer(static_cast<size_t>(RowsSharedFloats()));
  float* const shared = shared_buffer.data();
  int tail_flags[kRowsTile] = {};
  double acc[kRowsThreads][kRowsFoldRows] = {};
  RowsTile t;
  t.w = w;
  t.row0 = row0;
  t.tile_rows = tile_rows;
  t.inputs = inputs;
  t.x = x;
  t.x_stride = x_stride;
  t.xs = shared;
  t.sums = shared + int64_t{kRowsGroup} * kRowsXStride;
  t.tail_flags = tail_flags;
  t.gather = gather;
  uint32_t not_exact = 0;
  const int blocks = static_cast<int>(w.cols / kTiledBlockCols);
  for (int blk0 = 0; blk0 < blocks; blk0 += kRowsChunkBlocks) {
    t.blk0 = blk0;
    t.nb = blocks - blk0 < kRowsChunkBlocks ? blocks - blk0 : kRowsChunkBlocks;
    for (int i = 0; i < inputs * kRowsXStride; ++i) not_exact |= RowsStageX(t, i, shared);
    for (int tid = 0; tid < kRowsThreads; ++tid) RowsChunkItems<K>(t, tid);
    for (int tid = 0; tid < kRowsThreads; ++tid) RowsChunkFold<K>(t, tid, acc[tid]);
  }
  // The half-warps' reductions: slot s = tid >> 4 holds lanes 0..15 of its pairs.
  for (int slot = 0; slot < kRowsThreads / 16; ++slot) {
    const int m = RowsFoldInput(16 * slot);
    if (m >= inputs) continue;
    for (int k = 0; k < kRowsFoldRows; ++k) {
      const int r = RowsFoldRow(16 * slot, k);
      if (r >= tile_rows || (not_exact >> m & 1u)) continue;
      double lanes[16];
      for (int lane = 0; lane < 16; ++lane) lanes[lane] = acc[16 * slot + lane][k];
      const int64_t in = RowsInput(t, m);
      y[in * y_stride + r] = RowsFinish(w, row0 + r, ReduceLanes16(lanes), tail_flags[r] != 0,
                                        x + in * x_stride, round_bf16);
    }
  }
  for (int m = 0; m < inputs; ++m) {
    if (!(not_exact >> m & 1u)) continue;
    const int64_t in = RowsInput(t, m);
    for (int r = 0; r < tile_rows; ++r) {
      const float v = RowDotBySharedLanes(w, row0 + r, x + in * x_stride, false);
      y[in * y_stride + r] = round_bf16 ? RoundBf16(v) : v;
    }
  }
}

}  // namespace dsagent::engine::kernels::cuda
