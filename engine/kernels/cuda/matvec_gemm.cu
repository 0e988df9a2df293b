// The register-tiled kernel for many activation rows (matvec_tiled.h RunTiledMatVecGemm,
// RunTiledExpertGemm): a CTA multiplies kGemmTileRows weight rows by up to kGemmTileInputs
// activation rows, each weight value decoded once for all of them; the schedule and arithmetic
// are matvec_gemm_math.h's (shared with the host test, which runs them thread by thread against
// WeightRowDotsF32): every (row, input) gets the single-row tiled kernel's bits.
//
// Grid (input tiles, row tiles, groups): the input tiles of one row tile are neighbouring CTAs,
// so more than kGemmTileInputs rows read the tile's weights from device memory about once and
// then through L2. The experts' kernel takes CTA (piece, row tile) over the slots grouped by
// expert (expert_groups_math.h: pieces of up to 8 slots of one expert, gathered from x).
//
// Two kernels that set the weight view once each, from a local copy: nvcc 13.0 miscompiled the
// grouped kernel this one replaced when it assigned the view on either side of a branch (the
// H200 run of 2026-12-04: the experts' CTAs read the single weight's empty view and wrote zeros).
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/expert_groups_math.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/matvec_gemm_math.h"
#include "engine/kernels/cuda/matvec_lanes.cuh"
#include "engine/kernels/cuda/matvec_tiled.h"
#include "engine/kernels/cuda/rows_tiles.cuh"
#include "engine/kernels/cuda/warp_butterfly.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

static_assert(kExpertPieceSlots <= kGemmTileInputs, "an expert piece fits one CTA's inputs");
static_assert(sizeof(GemmShared) <= 48 * 1024, "the tile fits static shared memory");

template <WeightKind K>
__device__ __forceinline__ void GemmCta(const GemmTile& t) {
  __shared__ GemmShared sh;
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < kGemmTileRows) sh.row_tail[tid] = 0;
  if (tid < kGemmTileInputs) sh.not_exact[tid] = 0;
  __syncthreads();
  GemmRegs<K> regs;
  GemmLoad<K>(t, tid, 0, regs);
  GemmStore<K>(t, sh, 0, tid, regs);
  __syncthreads();
  double lanes[kGemmRowsPerThread][kGemmInputsPerThread];
#pragma unroll
  for (int i = 0; i < kGemmRowsPerThread; ++i) {
#pragma unroll
    for (int k = 0; k < kGemmInputsPerThread; ++k) lanes[i][k] = 0.0;
  }
  const int blocks = static_cast<int>(t.w.cols / kTiledBlockCols);
  for (int blk = 0; blk < blocks; ++blk) {
    const int buf = blk & 1;
    const bool next = blk + 1 < blocks;
    // The next block's bytes are in flight while this block's chains run.
    if (next) GemmLoad<K>(t, tid, blk + 1, regs);
    GemmBlock<K>(t, sh, buf, tid, blk, lanes);
    // The other buffer was last read before the previous barrier.
    if (next) GemmStore<K>(t, sh, buf ^ 1, tid, regs);
    __syncthreads();
  }

  const int j = tid & 15, cell = tid >> 4;
  const int o0 = (cell % kGemmRowCells) * kGemmRowsPerThread;
  const int m0 = (cell / kGemmRowCells) * kGemmInputsPerThread;
  // The contract's order: (i, i+8), (i, i+4), (0, 2) (1, 3), (0, 1).
  XorSumEach<16, kGemmRowsPerThread * kGemmInputsPerThread>(&lanes[0][0]);
#pragma unroll
  for (int i = 0; i < kGemmRowsPerThread; ++i) {
#pragma unroll
    for (int k = 0; k < kGemmInputsPerThread; ++k) {
      const int o = o0 + i, m = m0 + k;
      if (j == 0 && o < t.tile_rows && m < t.inputs && sh.not_exact[m] == 0) {
        GemmFinish(t, sh, o, m, lanes[i][k]);
      }
    }
  }
  // The rare inputs not exact in bf16: the columns order, a half-warp per row (every thread takes
  // part in the shuffles; the flags are uniform over the CTA after the last barrier).
  for (int m = 0; m < t.inputs; ++m) {
    if (sh.not_exact[m] == 0) continue;
    for (int o = cell; o < kGemmTileRows; o += kGemmThreads / 16) {
      MatVecLanesRow(t.w, t.row0 + o, o < t.tile_rows, GemmXRow(t, m),
                     t.y + GemmInputRow(t, m) * t.y_stride + o, t.round_bf16, false, j);
    }
  }
}

template <WeightKind K>
__global__ void __launch_bounds__(kGemmThreads, 2) GemmKernel(TiledMatVec a) {
  AwaitPreviousKernel();
  GemmCta<K>(SingleWeightTile(a, kGemmTileInputs, kGemmTileRows));
}

template <WeightKind K>
__global__ void __launch_bounds__(kGemmThreads, 2) ExpertGemmKernel(ExpertRowsArgs a) {
  AwaitPreviousKernel();
  if (static_cast<int>(blockIdx.x) >= *a.n_pieces) return;
  const ExpertPiece piece = a.pieces[blockIdx.x];
  const WeightView w = ExpertProductViews(a)[piece.expert];
  if (w.data == nullptr) return;  // kept on the host (uniform over the CTA)
  GemmCta<K>(ExpertPieceTile(a, piece, w, kGemmTileRows));
}

// The kernel for the arguments' kind: the single weight's (TiledMatVec) or the experts' pieces
// (ExpertRowsArgs).
template <WeightKind K>
void Launch(const TiledMatVec& a, dim3 grid, cudaStream_t stream) {
  LaunchKernel(GemmKernel<K>, "GemmKernel<K>", grid, kGemmThreads, 0, stream, a);
}
template <WeightKind K>
void Launch(const ExpertRowsArgs& a, dim3 grid, cudaStream_t stream) {
  LaunchKernel(ExpertGemmKernel<K>, "ExpertGemmKernel<K>", grid, kGemmThreads, 0, stream, a);
}

template <class Args>
void LaunchKind(const Args& a, dim3 grid, WeightKind kind, cudaStream_t stream) {
  LaunchForTiledKind(kind, "the register-tiled MatVec",
                     [&](auto k) { Launch<decltype(k)::value>(a, grid, stream); });
}

unsigned RowTiles(int64_t rows) {
  return static_cast<unsigned>((rows + kGemmTileRows - 1) / kGemmTileRows);
}

}  // namespace

bool TiledMatVecGemmTakes(WeightKind kind, int64_t cols, int64_t rows) {
  return kind != WeightKind::kF32 && cols > 0 && cols % kTiledBlockCols == 0 &&
         (rows + kGemmTileRows - 1) / kGemmTileRows <= 65535;
}

void RunTiledMatVecGemm(const TiledMatVec& m, WeightKind kind, cudaStream_t stream) {
  if (m.rows <= 0 || m.inputs <= 0 || m.groups <= 0) return;
  if (m.views != nullptr) throw CudaError("RunTiledMatVecGemm: one weight, not a set");
  const int64_t input_tiles = (m.inputs + kGemmTileInputs - 1) / kGemmTileInputs;
  if (input_tiles > 0x7fffffff || m.groups > 65535) {
    throw CudaError("RunTiledMatVecGemm: " + std::to_string(m.inputs) + " inputs x " +
                    std::to_string(m.groups) + " groups");
  }
  const dim3 grid(static_cast<unsigned>(input_tiles), RowTiles(m.rows),
                  static_cast<unsigned>(m.groups));
  LaunchKind(m, grid, kind, stream);
}

void RunTiledExpertGemm(const ExpertRowsArgs& e, WeightKind kind, cudaStream_t stream) {
  if (e.rows <= 0 || e.slots <= 0) return;
  const dim3 grid(static_cast<unsigned>(e.slots), RowTiles(e.rows), ExpertProducts(e));
  LaunchKind(e, grid, kind, stream);
}

}  // namespace dsagent::engine::kernels::cuda
