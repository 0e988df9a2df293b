// The bandwidth path of MatVec (matvec_tiled.h): the pair order of weight_dot_f32.h for BF16,
// FP8 and FP4 weights whose columns are whole 128-column blocks, read with 16-byte loads. The
// arithmetic of a work item — (row, block, half): eight lanes' fp32 chains over one block — is
// matvec_tiled_math.h's, shared with the host tests.
//
// A CTA owns a tile of rows and the activation row in shared memory (checked there for being
// exact in bf16). Its 256 threads share the tile's items (half fastest, then block, then row: a
// warp reads 16 neighbouring blocks of one row), each leaving its eight block sums in shared
// memory; then 16 threads per row fold the blocks in order into the double lanes (the contract's
// lanes[j] += double(block[j]) * scale), reduce them by shuffles in the contract's order, add the
// tail and store. Same bits as WeightRowDotsF32, with many items in flight whatever the row count
// (the 16-lanes-per-row kernel of matvec.cu has one half-warp per row and 2-byte loads).
//
// The rare cases take device_math.h's generic code: an FP8 NaN byte or an FP4 scale byte outside
// [2, 128] (past 128: two multiplies a weight) recomputes its item (BlockLanePairSum); an FP4 group
// whose scale byte is outside the lane range goes to the tail (flagged per row, BlockPairTail at
// the end); an activation not exact in bf16 (the columns order) runs the CTA's rows through
// matvec_lanes.cuh.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "engine/kernels/cuda/act_quant_cta.cuh"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/division_walk.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/l2_prefetch.cuh"
#include "engine/kernels/cuda/matvec_lanes.cuh"
#include "engine/kernels/cuda/matvec_tiled.h"
#include "engine/kernels/cuda/matvec_tiled_math.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/rms_norm_cta.cuh"
#include "engine/kernels/cuda/warp_butterfly.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlockCols = kTiledBlockCols;
constexpr int kLaneStride = 16;  // floats per (row, block) in the shared block sums
// Shared memory for one CTA's block sums; the tile's rows are chosen to fit it.
constexpr int64_t kSumBytesBudget = 64 * 1024;
constexpr int64_t kSharedBytesMax = 160 * 1024;

// Loads the items first, first + 256, ... (kPrefetch of them, those below `items`) of a tile whose
// first row is `row0`. Item it is (row it / 2 / blocks, block it / 2 % blocks, half it % 2): `at`
// walks it / 2 (quot: the row, rem: the block) from item `first` past the kPrefetch items.
template <WeightKind K, int kPrefetch>
__device__ void LoadItems(const WeightView& w, int64_t row0, int items, int first,
                          const DivisionStride& stride, Division& at,
                          ItemWords<K> (&words)[kPrefetch]) {
#pragma unroll
  for (int p = 0; p < kPrefetch; ++p) {
    if (first + p * kThreads < items) LoadItem<K>(w, row0 + at.quot, at.rem, first & 1, words[p]);
    at.Next(stride);
  }
}

// Grid (tiles, inputs or slots); dynamic shared memory: x (cols floats), the block sums
// (rows_per_tile x (blocks * 16 + 16) floats) and a tail flag per row. kPrefetch: the items a
// thread loads (LoadItem) before it computes them (ItemChains) — the same items per thread (tid,
// tid + 256, ...) and the same arithmetic on each, so the same bits whatever it is; more than one
// keeps more weight bytes in flight per thread instead of a load's latency per item.
template <WeightKind K, int kPrefetch>
__global__ void __launch_bounds__(kThreads)
    TiledKernel(const WeightView* views, const int32_t* ids, WeightView single, int64_t first_row,
                int64_t rows, int rows_per_tile, const float* x, int64_t x_stride, float* y,
                int64_t y_stride, int64_t x_group_stride, int64_t y_group_stride, bool round_bf16,
                TiledInput input) {
  extern __shared__ float4 shared4[];
  float* const xs = reinterpret_cast<float*>(shared4);
  const int64_t s = blockIdx.y;
  // Group g (grid z; one group unless the launch has several): the weight's next `rows` rows
  // with its own slices of x and y (MatVecRowGroups: the attention's grouped wo_a).
  const int64_t g = blockIdx.z;
  const int64_t row_begin = first_row + g * rows;
  // Routed experts: the ids are the router's output, so the wait comes first (kernel_launch.cuh).
  if (views != nullptr) AwaitPreviousKernel();
  const WeightView w = views != nullptr ? views[ids[s]] : single;
  if (w.data == nullptr) return;  // an expert kept on the host (uniform over the CTA)
  const float* xt = x + s * x_stride + g * x_group_stride;
  const int blocks = static_cast<int>(w.cols / kBlockCols);
  const int stride = blocks * kLaneStride + kLaneStride;  // padded: neighbouring rows, other banks
  float* const sums = xs + w.cols;
  int* const tail_flags = reinterpret_cast<int*>(sums + int64_t{rows_per_tile} * stride);
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t tile_row0 = static_cast<int64_t>(blockIdx.x) * rows_per_tile;
  const int tile_rows =
      static_cast<int>(rows - tile_row0 < rows_per_tile ? rows - tile_row0 : rows_per_tile);
  float* const out = y + s * y_stride + g * y_group_stride + tile_row0;
  const int items = tile_rows * blocks * 2;

  // The first items' weight bytes are requested before the activation is staged: they do not
  // depend on it, so the two latencies overlap instead of adding up (a decode step's small
  // matrices are one round of items a thread).
  ItemWords<K> words[kPrefetch];
  // A thread's items are tid, tid + 256, ...: their pairs (it / 2) walk by 128 (division_walk.h).
  const DivisionStride next_item = DivisionStride::Of(kThreads / 2, blocks);
  Division load_at = Division::Of(tid / 2, blocks);
  LoadItems<K, kPrefetch>(w, row_begin + tile_row0, items, tid, next_item, load_at, words);
  // One weight: its first loads were issued before the wait, so they overlap the end of the
  // kernel before this one as well (launched as a programmatic dependent launch); a tile of more
  // than one round of loads has the rest of its rows requested into L2 there too.
  if (views == nullptr) {
    if (items > kThreads * kPrefetch) {
      PrefetchWeightRowsL2(w, row_begin + tile_row0, tile_rows, tid, kThreads);
    }
    AwaitPreviousKernel();
  }

  int exact = 1;
  if (input.quantize_fp8) {  // uniform over the grid
    // The activation's act_quant as it is staged: its blocks of 128, a warp each, quantised in
    // shared memory (act_quant_cta.cuh, ActQuantKernel's bits), then checked as below; with
    // swiglu_u, of SwiGLU's values (SwiGluQuantKernel's: the same value, amax and rounding).
    if (input.swiglu_u != nullptr) {
      const float* ut = input.swiglu_u + s * x_stride + g * x_group_stride;
      const bool weighted = input.swiglu_weights != nullptr;
      const float weight = weighted ? input.swiglu_weights[s] : 1.0f;
      for (int64_t c = tid; c < w.cols; c += kThreads) {
        xs[c] = SwiGluValue(xt[c], ut[c], input.swiglu_limit, weighted, weight);
      }
    } else {
      for (int64_t c = tid; c < w.cols; c += kThreads) xs[c] = xt[c];
    }
    __syncthreads();
    if (input.norm_weight != nullptr) {
      // The norm's partials where the block sums go later (free until the products).
      RmsNormRowCta<kThreads>(xs, w.cols, input.norm_weight, input.norm_eps, xs,
                              reinterpret_cast<double*>(xs + w.cols));
      __syncthreads();
    }
    ActQuantFp8RowCta(xs, w.cols, xs);
    __syncthreads();
    for (int64_t c = tid; c < w.cols; c += kThreads) exact &= ExactInBf16(xs[c]) ? 1 : 0;
  } else {
    for (int64_t c = tid; c < w.cols; c += kThreads) {
      const float v = xt[c];
      xs[c] = v;
      exact &= ExactInBf16(v) ? 1 : 0;
    }
  }
  for (int r = tid; r < rows_per_tile; r += kThreads) tail_flags[r] = 0;
  exact = __syncthreads_and(exact);
  const int lane = tid & 15;
  if (!exact) {
    // The columns order: 16 lanes per row, 16 rows at a time (every thread takes part in the
    // shuffles of each pass).
    for (int r0 = 0; r0 < tile_rows; r0 += kThreads / 16) {
      const int r = r0 + tid / 16;
      MatVecLanesRow(w, row_begin + tile_row0 + r, r < tile_rows, xs, out + r, round_bf16, false,
                     lane);
    }
    return;
  }

  Division at = Division::Of(tid / 2, blocks);
  for (int first = tid; first < items; first += kThreads * kPrefetch) {
    if (first != tid) {
      LoadItems<K, kPrefetch>(w, row_begin + tile_row0, items, first, next_item, load_at, words);
    }
#pragma unroll
    for (int p = 0; p < kPrefetch; ++p, at.Next(next_item)) {
      if (first + p * kThreads >= items) break;
      const int h = tid & 1, blk = at.rem, r = at.quot;
      const int64_t row = row_begin + tile_row0 + r;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      const float* xb = xs + blk * kBlockCols + 16 * h;
      if (!ItemChains<K>(words[p], xb, acc, &tail_flags[r])) {
        const int64_t c0 = int64_t{blk} * kBlockCols;
        for (int m = 0; m < 8; ++m) {
          acc[m] = BlockLanePairSum(w, row, c0, c0 + kBlockCols, 8 * h + m, xs);
        }
      }
      float4* dst = reinterpret_cast<float4*>(sums + r * stride + blk * kLaneStride + 8 * h);
      dst[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
      dst[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
    }
  }
  __syncthreads();

  for (int r0 = 0; r0 < tile_rows; r0 += kThreads / 16) {
    const int r = r0 + tid / 16;
    const bool valid = r < tile_rows;
    const int64_t row = row_begin + tile_row0 + r;
    double acc = 0.0;
    if (valid) {
      const float* sr = sums + r * stride + lane;
      for (int blk = 0; blk < blocks; ++blk) {
        const double block = static_cast<double>(sr[blk * kLaneStride]);
        if constexpr (K == WeightKind::kFP8) {
          // lanes += double(block) * scale: the product is exact (a power of two), so one fma.
          acc = fma(block, BlockPairScale(w, row, int64_t{blk} * kBlockCols), acc);
        } else {
          acc += block;
        }
      }
    }
    acc = XorSum<16>(acc);
    if (valid && lane == 0) {
      float tail = 0.0f;
      if (tail_flags[r] != 0) {
        for (int64_t c0 = 0; c0 < w.cols; c0 += kBlockCols) {
          tail = BlockPairTail(w, row, c0, c0 + kBlockCols, xs, tail);
        }
      }
      const float v = static_cast<float>(acc + static_cast<double>(tail));
      out[r] = round_bf16 ? RoundBf16(v) : v;
    }
  }
}

template <WeightKind K, int kPrefetch>
void LaunchPrefetching(const TiledMatVec& m, int rows_per_tile, size_t shared,
                       cudaStream_t stream) {
  static SharedMemoryOptIn opt_in;
  AllowDynamicSharedMemory(reinterpret_cast<const void*>(TiledKernel<K, kPrefetch>),
                           static_cast<int>(kSharedBytesMax), opt_in);
  const dim3 grid(static_cast<unsigned>((m.rows + rows_per_tile - 1) / rows_per_tile),
                  static_cast<unsigned>(m.inputs), static_cast<unsigned>(m.groups));
  LaunchKernel(TiledKernel<K, kPrefetch>, "TiledKernel<K, kPrefetch>", grid, kThreads, shared,
               stream, m.views, m.ids, m.single, m.row_begin, m.rows, rows_per_tile, m.x,
               m.x_stride, m.y, m.y_stride, m.x_group_stride, m.y_group_stride, m.round_bf16,
               m.input);
}

// The items a thread loads at once when prefetching: BF16 items are twice FP8's words (a
// 128-byte half block), and 2 in flight keeps the registers near the FP8 kernel's at 4 (4 took
// 203 registers a thread: one CTA an SM).
constexpr int PrefetchItems(WeightKind kind) {
  return kind == WeightKind::kBF16 ? 2 : kTiledPrefetchItems;
}

template <WeightKind K>
void Launch(const TiledMatVec& m, int rows_per_tile, size_t shared, cudaStream_t stream) {
  if (TiledPrefetch() > 1) {
    LaunchPrefetching<K, PrefetchItems(K)>(m, rows_per_tile, shared, stream);
  } else {
    LaunchPrefetching<K, 1>(m, rows_per_tile, shared, stream);
  }
}

EnvSwitch one_item_at_a_time("DSAGENT_CUDA_TILED_PREFETCH", "1");

EnvSwitch budget_tiles("DSAGENT_CUDA_TILED_TILES", "budget");

size_t SharedBytes(int64_t cols, int rows_per_tile) {
  const int64_t stride = cols / kBlockCols * kLaneStride + kLaneStride;
  return static_cast<size_t>((cols + rows_per_tile * stride) * 4 + rows_per_tile * 4);
}

// The most shared memory a launch takes here: kSharedBytesMax, or the device's limit where that
// is less (99 KiB on sm_86/89/120).
size_t SharedLimit() {
  return static_cast<size_t>(std::min<int64_t>(kSharedBytesMax, DeviceSharedBytesOptIn()));
}

// Rows per tile (ops.h TiledBudgetTiles): the rows one round of `items` loads a thread covers
// (a power of two), or with budget tiles as many as the block sums' budget holds (a multiple of
// 16, the fold's pass); then halved while that leaves fewer than two CTAs per SM, down to
// kMinTileRows or one item a thread (budget tiles: 16). A tile under 16 rows leaves some of the
// fold's threads idle, a short phase; a decode step's small matrices (V4-Flash's wkv: 512 rows, 32
// CTAs of 16) then spread over every SM instead of a quarter of them.
constexpr int64_t kMinTileRows = 4;
int RowsPerTile(int64_t cols, int64_t rows, int64_t inputs, int items) {
  const int64_t blocks = cols / kBlockCols;
  const int64_t row_bytes = (blocks * kLaneStride + kLaneStride) * 4;
  int64_t tile = kSumBytesBudget / row_bytes / 16 * 16;
  if (tile < 16) tile = 16;
  if (tile > 256) tile = 256;
  const bool budget = budget_tiles.On();
  if (!budget) {
    const int64_t round = int64_t{kThreads} * items / (2 * blocks);
    int64_t one_round = kMinTileRows;
    while (one_round * 2 <= round) one_round *= 2;
    if (one_round < tile) tile = one_round;
  }
  // Not below one item a thread: a CTA with fewer items than threads only stages the activation
  // more times (V4-Flash's shapes reach 4 rows first; v4-tiny's narrow matrices would not). The
  // budget rule stops at 16, as it did.
  const int64_t min_tile = budget ? 16 : std::max<int64_t>(kMinTileRows, kThreads / (2 * blocks));
  const int64_t want = 2 * int64_t{CurrentDeviceSmCount()};
  while (tile > min_tile && (rows + tile - 1) / tile * inputs < want) tile /= 2;
  // Within the device's shared memory (TiledMatVecTakes saw that 16 rows fit).
  while (tile > 16 && SharedBytes(cols, static_cast<int>(tile)) > SharedLimit()) tile /= 2;
  if (budget) tile = tile < 16 ? 16 : tile / 16 * 16;  // that rule's multiple of 16
  return static_cast<int>(tile);
}

// The items a thread of the kernel for `kind` loads at once (Launch's choice).
int ItemsPerRound(WeightKind kind) { return TiledPrefetch() > 1 ? PrefetchItems(kind) : 1; }

}  // namespace

int TiledPrefetch() { return one_item_at_a_time.On() ? 1 : kTiledPrefetchItems; }

void SetTiledPrefetch(int items) { one_item_at_a_time.Set(items <= 1); }

bool TiledBudgetTiles() { return budget_tiles.On(); }

void SetTiledBudgetTiles(bool on) { budget_tiles.Set(on); }

bool TiledMatVecTakes(WeightKind kind, int64_t cols) {
  if (kind == WeightKind::kF32 || cols <= 0 || cols % kBlockCols != 0) return false;
  return SharedBytes(cols, 16) <= SharedLimit();
}

void RunTiledMatVec(const TiledMatVec& m, WeightKind kind, int64_t cols, cudaStream_t stream) {
  if (RegisterTiledOnly(m)) throw CudaError("RunTiledMatVec: the register-tiled kernel's work");
  if (m.rows <= 0 || m.inputs <= 0 || m.groups <= 0) return;
  if (m.groups > 65535 || m.inputs > 65535) {
    throw CudaError("RunTiledMatVec: " + std::to_string(m.inputs) + " inputs x " +
                    std::to_string(m.groups) + " groups (at most 65535 each)");
  }
  const int rows_per_tile = RowsPerTile(cols, m.rows, m.inputs * m.groups, ItemsPerRound(kind));
  size_t shared = SharedBytes(cols, rows_per_tile);
  if (m.input.norm_weight != nullptr) {  // the norm's kThreads partial sums after x
    shared = std::max(shared, static_cast<size_t>(cols * 4 + kThreads * 8));
  }
  LaunchForTiledKind(kind, "the tiled MatVec",
                     [&](auto k) { Launch<decltype(k)::value>(m, rows_per_tile, shared, stream); });
}

}  // namespace dsagent::engine::kernels::cuda
