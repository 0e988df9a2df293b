// The multi-row tiled MatVec (matvec_tiled.h RunTiledMatVecRows): a weight times several
// activation rows with each weight byte read once per CTA for kRowsGroup rows. The schedule and
// arithmetic are matvec_tiled_rows_math.h's (shared with the host test, which runs them thread by
// thread against WeightRowDotsF32): every input row gets the bits of the single-row tiled kernel.
//
// Grid (input groups, tiles): the groups of one tile are neighbouring CTAs, so with more than
// kRowsGroup inputs the groups of a tile run together and read its weights through L2 rather than
// each from device memory. A group is kRowsGroup inputs, fewer for a weight of few tiles
// (InputsPerCta). A second kernel with the same CTA body takes the routed experts' slots grouped
// by expert (expert_groups_math.h; GroupSlotsKernel here makes the grouping): grid (pieces,
// tiles), each piece one expert's slots through a gather list.
//
// An input with a value not exact in bf16 (the columns order) is found while its chunks are
// staged; its rows are then recomputed by matvec_lanes.cuh (its pair-order result is dropped).
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/matvec_lanes.cuh"
#include "engine/kernels/cuda/matvec_tiled.h"
#include "engine/kernels/cuda/expert_groups_math.h"
#include "engine/kernels/cuda/matvec_tiled_rows_math.h"

namespace dsagent::engine::kernels::cuda {
namespace {

// One CTA's work: t (weight, tile, inputs; gather list or none) with its shared arrays set here,
// outputs at y_base + RowsInput(t, m) * y_stride + tile_row0 + r.
template <WeightKind K>
__device__ __forceinline__ void RowsCta(RowsTile& t, int64_t tile_row0, float* y_base,
                                        int64_t y_stride, bool round_bf16) {
  extern __shared__ float4 shared4[];
  float* const shared = reinterpret_cast<float*>(shared4);
  __shared__ uint32_t not_exact_mask;
  const int tid = static_cast<int>(threadIdx.x);
  t.xs = shared;
  t.sums = shared + kRowsGroup * kRowsXStride;
  t.tail_flags = reinterpret_cast<int*>(t.sums + kRowsTile * kRowsGroup * kRowsSumStride);
  if (tid < kRowsTile) t.tail_flags[tid] = 0;
  if (tid == 0) not_exact_mask = 0;

  double acc[kRowsFoldRows];
#pragma unroll
  for (int k = 0; k < kRowsFoldRows; ++k) acc[k] = 0.0;
  uint32_t not_exact = 0;
  const int blocks = static_cast<int>(t.w.cols / kTiledBlockCols);
  for (int blk0 = 0; blk0 < blocks; blk0 += kRowsChunkBlocks) {
    t.blk0 = blk0;
    t.nb = blocks - blk0 < kRowsChunkBlocks ? blocks - blk0 : kRowsChunkBlocks;
    // The previous chunk's fold is done by every thread once they all pass this barrier, so the
    // items below may overwrite its sums.
    for (int i = tid; i < t.inputs * kRowsXStride; i += kRowsThreads) {
      not_exact |= RowsStageX(t, i, shared);
    }
    __syncthreads();
    RowsChunkItems<K>(t, tid);
    __syncthreads();
    RowsChunkFold<K>(t, tid, acc);
  }
  if (not_exact != 0) atomicOr(&not_exact_mask, not_exact);
  __syncthreads();
  const uint32_t mask = not_exact_mask;

  const int m = RowsFoldInput(tid), lane = tid & 15;
#pragma unroll
  for (int k = 0; k < kRowsFoldRows; ++k) {
    double v = acc[k];
    v += __shfl_xor_sync(0xffffffffu, v, 8, 16);
    v += __shfl_xor_sync(0xffffffffu, v, 4, 16);
    v += __shfl_xor_sync(0xffffffffu, v, 2, 16);
    v += __shfl_xor_sync(0xffffffffu, v, 1, 16);
    const int r = RowsFoldRow(tid, k);
    if (lane == 0 && m < t.inputs && r < t.tile_rows && !(mask >> m & 1u)) {
      const int64_t in = RowsInput(t, m);
      y_base[in * y_stride + tile_row0 + r] = RowsFinish(
          t.w, t.row0 + r, v, t.tail_flags[r] != 0, t.x + in * t.x_stride, round_bf16);
    }
  }
  // The rare inputs not exact in bf16: the columns order, 16 lanes per row (kRowsTile rows at a
  // time; every thread takes part in the shuffles).
  for (int mi = 0; mi < t.inputs; ++mi) {
    if (!(mask >> mi & 1u)) continue;
    const int r = tid / 16;
    const int64_t in = RowsInput(t, mi);
    MatVecLanesRow(t.w, t.row0 + r, r < t.tile_rows, t.x + in * t.x_stride,
                   y_base + in * y_stride + tile_row0 + r, round_bf16, false, lane);
  }
}

// What a launch multiplies: one weight's rows [row_begin, row_begin + rows) times `inputs` rows of
// x in groups of `group` (TiledRowsKernel, grid (groups, tiles)), or, with `pieces`, the routed
// experts' grouped slots (TiledExpertRowsKernel, grid (slots, tiles): CTA p takes piece p, past
// *n_pieces nothing; its expert's tile times the piece's slots, gathered from x and scattered to y
// by slot; an expert kept on the host, without data, is skipped).
struct RowsLaunch {
  WeightView single;
  const WeightView* views;
  const ExpertPiece* pieces;
  const int32_t* n_pieces;
  const int32_t* order;
  int64_t row_begin, rows, inputs;
  int group;
  const float* x;
  int64_t x_stride;
  float* y;
  int64_t y_stride;
  bool round_bf16;
};

// Two kernels, not one with a branch on `pieces`: with the CTA's weight view assigned on either
// side of such a branch, the H200 run of 2026-12-04 (nvcc 13.0, -O2) saw the inlined CTA body read
// the single-weight view (no data, 0 columns) in the experts' CTAs, which then wrote zeros
// (cuda_ops_test ExpertRowsMatVecGivesExpertMatVecsBits; the device printf showed the view right
// after the assignment and empty inside RowsCta). Each kernel below sets the view once, from a
// local copy.
//
// Two CTAs per SM: their shared memory fits (RowsSharedBytes) and registers are capped to match.
template <WeightKind K>
__global__ void __launch_bounds__(kRowsThreads, 2) TiledRowsKernel(RowsLaunch a) {
  const int64_t tile_row0 = static_cast<int64_t>(blockIdx.y) * kRowsTile;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * a.group;
  RowsTile t;
  t.w = a.single;
  t.row0 = a.row_begin + tile_row0;
  t.tile_rows =
      static_cast<int>(a.rows - tile_row0 < kRowsTile ? a.rows - tile_row0 : kRowsTile);
  t.inputs = static_cast<int>(a.inputs - m0 < a.group ? a.inputs - m0 : a.group);
  t.x = a.x + m0 * a.x_stride;
  t.x_stride = a.x_stride;
  RowsCta<K>(t, tile_row0, a.y + m0 * a.y_stride, a.y_stride, a.round_bf16);
}

template <WeightKind K>
__global__ void __launch_bounds__(kRowsThreads, 2) TiledExpertRowsKernel(RowsLaunch a) {
  if (static_cast<int>(blockIdx.x) >= *a.n_pieces) return;
  const ExpertPiece piece = a.pieces[blockIdx.x];
  const WeightView w = a.views[piece.expert];
  if (w.data == nullptr) return;  // kept on the host (uniform over the CTA)
  const int64_t tile_row0 = static_cast<int64_t>(blockIdx.y) * kRowsTile;
  RowsTile t;
  t.w = w;
  t.row0 = tile_row0;
  t.tile_rows =
      static_cast<int>(a.rows - tile_row0 < kRowsTile ? a.rows - tile_row0 : kRowsTile);
  t.inputs = piece.count;
  t.x = a.x;
  t.x_stride = a.x_stride;
  t.gather = a.order + piece.begin;
  RowsCta<K>(t, tile_row0, a.y, a.y_stride, a.round_bf16);
}

// One CTA: each slot's rank (phase 1), then its sorted position and piece (phase 2); the count.
__global__ void GroupSlotsKernel(const int32_t* ids, int slots, int32_t* order,
                                 ExpertPiece* pieces, int32_t* n_pieces) {
  extern __shared__ int32_t group_shared[];
  int32_t* const sids = group_shared;
  int32_t* const ranks = group_shared + slots;
  __shared__ int count;
  const int tid = static_cast<int>(threadIdx.x);
  if (tid == 0) count = 0;
  for (int s = tid; s < slots; s += blockDim.x) sids[s] = ids[s];
  __syncthreads();
  for (int s = tid; s < slots; s += blockDim.x) ranks[s] = SlotRank(sids, s);
  __syncthreads();
  int mine = 0;
  for (int s = tid; s < slots; s += blockDim.x) mine += GroupSlot(sids, ranks, slots, s, order, pieces);
  if (mine != 0) atomicAdd(&count, mine);
  __syncthreads();
  if (tid == 0) *n_pieces = count;
}

// Inputs per CTA: kRowsGroup, fewer where a weight has so few tiles that the CTAs would not fill
// the device twice over (a small weight with many inputs: more CTAs, each reading the tile again
// through L2, rather than a few long ones).
int InputsPerCta(int64_t rows, int64_t inputs) {
  const int64_t tiles = (rows + kRowsTile - 1) / kRowsTile;
  const int64_t want = 2 * int64_t{CurrentDeviceSmCount()};
  const int64_t groups = (want + tiles - 1) / tiles;
  const int64_t per = (inputs + groups - 1) / groups;
  return static_cast<int>(per < 1 ? 1 : per > kRowsGroup ? kRowsGroup : per);
}

template <WeightKind K>
void Launch(const RowsLaunch& a, dim3 grid, cudaStream_t stream) {
  const int bytes = static_cast<int>(RowsSharedBytes());
  if (a.pieces != nullptr) {
    static SharedMemoryOptIn opt_in;
    AllowDynamicSharedMemory(reinterpret_cast<const void*>(TiledExpertRowsKernel<K>), bytes, opt_in);
    TiledExpertRowsKernel<K><<<grid, kRowsThreads, static_cast<size_t>(bytes), stream>>>(a);
  } else {
    static SharedMemoryOptIn opt_in;
    AllowDynamicSharedMemory(reinterpret_cast<const void*>(TiledRowsKernel<K>), bytes, opt_in);
    TiledRowsKernel<K><<<grid, kRowsThreads, static_cast<size_t>(bytes), stream>>>(a);
  }
}

void LaunchKind(const RowsLaunch& a, dim3 grid, WeightKind kind, cudaStream_t stream) {
  switch (kind) {
    case WeightKind::kFP8:
      Launch<WeightKind::kFP8>(a, grid, stream);
      break;
    case WeightKind::kBF16:
      Launch<WeightKind::kBF16>(a, grid, stream);
      break;
    case WeightKind::kFP4:
      Launch<WeightKind::kFP4>(a, grid, stream);
      break;
    case WeightKind::kF32:
      throw CudaError("the multi-row MatVec: F32 weights take the columns-order kernel");
  }
  CheckCuda(cudaGetLastError(), "tiled multi-row MatVec launch");
}

}  // namespace

void RunGroupSlots(const int32_t* ids, int64_t slots, int32_t* order, ExpertPiece* pieces,
                   int32_t* n_pieces, cudaStream_t stream) {
  if (slots <= 0 || slots > kMaxGroupedSlots) {
    throw CudaError("RunGroupSlots: " + std::to_string(slots) + " slots (1 to " +
                    std::to_string(kMaxGroupedSlots) + ")");
  }
  GroupSlotsKernel<<<1, 1024, static_cast<size_t>(2 * slots) * sizeof(int32_t), stream>>>(
      ids, static_cast<int>(slots), order, pieces, n_pieces);
  CheckCuda(cudaGetLastError(), "expert slot grouping launch");
}

void RunTiledExpertRows(const ExpertRowsArgs& e, WeightKind kind, cudaStream_t stream) {
  if (e.rows <= 0 || e.slots <= 0) return;
  RowsLaunch a{};
  a.views = e.views;
  a.pieces = e.pieces;
  a.n_pieces = e.n_pieces;
  a.order = e.order;
  a.rows = e.rows;
  a.x = e.x;
  a.x_stride = e.x_stride;
  a.y = e.y;
  a.y_stride = e.y_stride;
  a.round_bf16 = e.round_bf16;
  const dim3 grid(static_cast<unsigned>(e.slots),
                  static_cast<unsigned>((e.rows + kRowsTile - 1) / kRowsTile));
  LaunchKind(a, grid, kind, stream);
}

bool TiledMatVecRowsTakes(WeightKind kind, int64_t cols, int64_t rows) {
  static_assert(kRowsThreads / 16 == kRowsTile, "the lanes fallback takes the tile in one pass");
  return kind != WeightKind::kF32 && cols > 0 && cols % kTiledBlockCols == 0 &&
         (rows + kRowsTile - 1) / kRowsTile <= 65535;
}

void RunTiledMatVecRows(const TiledMatVec& m, WeightKind kind, cudaStream_t stream) {
  if (m.rows <= 0 || m.inputs <= 0) return;
  if (m.views != nullptr) throw CudaError("RunTiledMatVecRows: one weight, not a set");
  RowsLaunch a{};
  a.single = m.single;
  a.row_begin = m.row_begin;
  a.rows = m.rows;
  a.inputs = m.inputs;
  a.group = InputsPerCta(m.rows, m.inputs);
  a.x = m.x;
  a.x_stride = m.x_stride;
  a.y = m.y;
  a.y_stride = m.y_stride;
  a.round_bf16 = m.round_bf16;
  const dim3 grid(static_cast<unsigned>((m.inputs + a.group - 1) / a.group),
                  static_cast<unsigned>((m.rows + kRowsTile - 1) / kRowsTile));
  LaunchKind(a, grid, kind, stream);
}

}  // namespace dsagent::engine::kernels::cuda
