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

#include "engine/kernels/cuda/act_quant_cta.cuh"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/expert_groups_math.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/last_cta.cuh"
#include "engine/kernels/cuda/matvec_gemm_math.h"
#include "engine/kernels/cuda/matvec_lanes.cuh"
#include "engine/kernels/cuda/matvec_tiled.h"
#include "engine/kernels/cuda/rms_norm_cta.cuh"
#include "engine/kernels/cuda/rows_tiles.cuh"
#include "engine/kernels/cuda/warp_butterfly.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

static_assert(kExpertPieceSlots <= kGemmTileInputs, "an expert piece fits one CTA's inputs");
static_assert(sizeof(GemmShared) <= 48 * 1024, "the tile fits static shared memory");
// The row tiles of a 128-column block of outputs (an act_quant block: the epilogues below).
constexpr int kTilesPerBlock = 128 / kGemmTileRows;
static_assert(kTilesPerBlock * kGemmTileRows == 128, "row tiles split a block evenly");

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

// The act_quant of the CTA's 128-column block of an output row (TiledMatVec::quantize_arrivals:
// the groups' outputs side by side, whole tiles of rows) by the last of its four CTAs to finish
// (last_cta.cuh), for every input of the tile: warp m takes input m's block, 4 values a lane
// (ActQuantWarpBlock: ActQuantRowCta<128>'s bits). Every thread of the CTA calls it.
__device__ __forceinline__ void QuantizeOutputBlockCta(const TiledMatVec& a, int inputs) {
  const int64_t row_blocks = a.rows * gridDim.z / 128;
  const int64_t block = (blockIdx.z * a.rows + blockIdx.y * int64_t{kGemmTileRows}) / 128;
  unsigned* counter = a.quantize_arrivals + blockIdx.x * row_blocks + block;
  if (!LastCtaToArrive(counter, kTilesPerBlock)) return;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  if (warp >= inputs) return;
  const int64_t m = static_cast<int64_t>(blockIdx.x) * kGemmTileInputs + warp;
  volatile float* yb = a.y + m * a.y_stride + block * 128;
  float v[4];
  for (int u = 0; u < 4; ++u) v[u] = yb[lane + 32 * u];
  ActQuantWarpBlock(v, /*fp4=*/false);
  for (int u = 0; u < 4; ++u) yb[lane + 32 * u] = v[u];
}

// The RmsNorm and FP8 act_quant of each input's whole output row (TiledMatVec::norm_arrivals) by
// the last of the input tile's CTAs to finish, RmsNormKernel's device functions on the same
// values, row after row: RmsNormQuant's bits. Every thread of the CTA calls it.
__device__ __forceinline__ void NormQuantRowsCta(const TiledMatVec& a, int inputs) {
  if (!LastCtaToArrive(a.norm_arrivals + blockIdx.x, gridDim.y)) return;
  __shared__ double part[kRmsNormThreads];
  for (int k = 0; k < inputs; ++k) {
    const int64_t m = static_cast<int64_t>(blockIdx.x) * kGemmTileInputs + k;
    float* y = a.y + m * a.y_stride;
    RmsNormRowCta<kRmsNormThreads>(y, a.rows, a.norm_weight, a.norm_eps, y, part);
    __syncthreads();  // the normed row written before its blocks are quantised
    ActQuantFp8RowCta(y, a.rows, a.norm_fp8 + m * a.y_stride);
  }
}

// One warp's block of 128 SwiGLU values into g: SwiGluValue of g and u (other CTAs' writes:
// volatile), 4 a lane, then their FP8 act_quant (ActQuantWarpBlock; SwiGluQuantKernel's bits).
__device__ __forceinline__ void SwiGluQuantBlockWarp(volatile float* g, const volatile float* u,
                                                     float limit, bool weighted, float weight,
                                                     int lane) {
  float v[4];
  for (int q = 0; q < 4; ++q) {
    v[q] = SwiGluValue(g[lane + 32 * q], u[lane + 32 * q], limit, weighted, weight);
  }
  ActQuantWarpBlock(v, /*fp4=*/false);
  for (int q = 0; q < 4; ++q) g[lane + 32 * q] = v[q];
}

// Whether this CTA is the last of its 128-column block's eight (four row tiles of each of a
// pair's products) to finish, counting on counters[row_set * blocks + block]; and the block's
// first column.
__device__ __forceinline__ bool LastOfPairBlock(unsigned* counters, int64_t row_set, int64_t rows) {
  const int64_t block = blockIdx.y / kTilesPerBlock;
  return LastCtaToArrive(counters + row_set * (rows / 128) + block, 2 * kTilesPerBlock);
}
__device__ __forceinline__ int64_t PairBlockColumn() {
  return static_cast<int64_t>(blockIdx.y / kTilesPerBlock) * 128;
}

// The experts' pair's SwiGLU of the CTA's block (ExpertRowsArgs::swiglu_arrivals), for every slot
// of the piece: warp j takes the piece's slot j. Every thread of the CTA calls it.
__device__ __forceinline__ void SwiGluBlockCta(const ExpertRowsArgs& a, const ExpertPiece& piece) {
  if (!LastOfPairBlock(a.swiglu_arrivals, blockIdx.x, a.rows)) return;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  if (warp >= piece.count) return;
  const int64_t slot = a.order[piece.begin + warp];
  const int64_t at = slot * a.y_stride + PairBlockColumn();
  const bool weighted = a.swiglu_weights != nullptr;
  SwiGluQuantBlockWarp(a.y + at, a.y_second + at, a.swiglu_limit, weighted,
                       weighted ? a.swiglu_weights[slot] : 1.0f,
                       static_cast<int>(threadIdx.x) % 32);
}

// A single weight pair's SwiGLU of the CTA's block (TiledMatVec::swiglu_arrivals), for every input
// of the tile: warp m takes input m. Every thread of the CTA calls it.
__device__ __forceinline__ void PairSwiGluBlockCta(const TiledMatVec& a, int inputs) {
  if (!LastOfPairBlock(a.swiglu_arrivals, blockIdx.x, a.rows)) return;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  if (warp >= inputs) return;
  const int64_t m = static_cast<int64_t>(blockIdx.x) * kGemmTileInputs + warp;
  const int64_t at = m * a.y_stride + PairBlockColumn();
  SwiGluQuantBlockWarp(a.y + at, a.y_second + at, a.swiglu_limit, false, 1.0f,
                       static_cast<int>(threadIdx.x) % 32);
}

// The single weight's kernel as it is, with its output's act_quant after
// (TiledMatVec::quantize_arrivals), or a pair (TiledMatVec::second) with its SwiGLU after where
// swiglu_arrivals asks: a variant each, so that the plain one keeps its registers (the pair and
// the epilogues in it made ptxas spill the FP8 variant's main loop).
enum class GemmVariant { kPlain, kQuantize, kPair };

template <WeightKind K, GemmVariant V>
__global__ void __launch_bounds__(kGemmThreads, 2) GemmKernel(TiledMatVec a) {
  AwaitPreviousKernel();
  const GemmTile t = SingleWeightTile<V == GemmVariant::kPair>(a, kGemmTileInputs, kGemmTileRows);
  GemmCta<K>(t);
  if constexpr (V == GemmVariant::kQuantize) {
    if (a.norm_arrivals != nullptr) {  // uniform over the grid
      NormQuantRowsCta(a, t.inputs);
    } else {
      QuantizeOutputBlockCta(a, t.inputs);
    }
  }
  if constexpr (V == GemmVariant::kPair) {
    if (a.swiglu_arrivals != nullptr) PairSwiGluBlockCta(a, t.inputs);  // uniform
  }
}

template <WeightKind K>
__global__ void __launch_bounds__(kGemmThreads, 2) ExpertGemmKernel(ExpertRowsArgs a) {
  AwaitPreviousKernel();
  if (static_cast<int>(blockIdx.x) >= *a.n_pieces) return;
  const ExpertPiece piece = a.pieces[blockIdx.x];
  const WeightView w = ExpertProductViews(a)[piece.expert];
  if (w.data == nullptr) return;  // kept on the host (uniform over the CTA)
  GemmCta<K>(ExpertPieceTile(a, piece, w, kGemmTileRows));
  if (a.swiglu_arrivals != nullptr) SwiGluBlockCta(a, piece);  // uniform over the grid
}

// The kernel for the arguments' kind: the single weight's (TiledMatVec) or the experts' pieces
// (ExpertRowsArgs).
template <WeightKind K>
void Launch(const TiledMatVec& a, dim3 grid, cudaStream_t stream) {
  if (a.quantize_arrivals != nullptr || a.norm_arrivals != nullptr) {
    LaunchKernel(GemmKernel<K, GemmVariant::kQuantize>, "GemmKernel<K, kQuantize>", grid,
                 kGemmThreads, 0, stream, a);
  } else if (a.second.data != nullptr) {
    LaunchKernel(GemmKernel<K, GemmVariant::kPair>, "GemmKernel<K, kPair>", grid, kGemmThreads, 0,
                 stream, a);
  } else {
    LaunchKernel(GemmKernel<K, GemmVariant::kPlain>, "GemmKernel<K>", grid, kGemmThreads, 0, stream,
                 a);
  }
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
  const int64_t input_tiles = GemmInputTiles(m.inputs);
  if (input_tiles > 0x7fffffff || m.groups > 65535) {
    throw CudaError("RunTiledMatVecGemm: " + std::to_string(m.inputs) + " inputs x " +
                    std::to_string(m.groups) + " groups");
  }
  if (m.quantize_arrivals != nullptr &&
      (m.rows % kGemmTileRows != 0 || (m.rows * m.groups) % 128 != 0 || m.row_begin != 0 ||
       (m.groups > 1 && m.y_group_stride != m.rows))) {
    throw CudaError(
        "RunTiledMatVecGemm: the output's FP8 blocks need its groups side by side in whole tiles "
        "and whole blocks of 128");
  }
  if (m.norm_arrivals != nullptr &&
      (m.quantize_arrivals != nullptr || m.groups != 1 || m.row_begin != 0 || m.rows % 128 != 0 ||
       m.second.data != nullptr || m.norm_weight == nullptr || m.norm_fp8 == nullptr)) {
    throw CudaError(
        "RunTiledMatVecGemm: the rows' norm takes one weight's whole rows (a multiple of 128), "
        "its norm weight and an FP8 output, and no other epilogue");
  }
  const bool pair = m.second.data != nullptr;
  if ((pair && (m.groups != 1 || m.second.cols != m.single.cols)) ||
      (m.swiglu_arrivals != nullptr && (!pair || m.rows % 128 != 0 || m.row_begin != 0))) {
    throw CudaError(
        "RunTiledMatVecGemm: a pair is two weights of one shape, without groups, and "
        "its SwiGLU needs whole blocks of 128 rows");
  }
  const dim3 grid(static_cast<unsigned>(input_tiles), RowTiles(m.rows),
                  static_cast<unsigned>(pair ? 2 : m.groups));
  LaunchKind(m, grid, kind, stream);
}

void RunTiledExpertGemm(const ExpertRowsArgs& e, WeightKind kind, cudaStream_t stream) {
  if (e.rows <= 0 || e.slots <= 0) return;
  if (e.swiglu_arrivals != nullptr && (e.views_second == nullptr || e.rows % 128 != 0)) {
    throw CudaError("RunTiledExpertGemm: the pair's SwiGLU needs both products and whole blocks");
  }
  const dim3 grid(static_cast<unsigned>(e.slots), RowTiles(e.rows), ExpertProducts(e));
  LaunchKind(e, grid, kind, stream);
}

}  // namespace dsagent::engine::kernels::cuda
