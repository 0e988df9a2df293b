// The tensor-core kernels for many activation rows (matvec_tensor.h): a CTA of eight warps
// multiplies kTensorTileRows weight rows by a tile of inputs with mma.sync (mma_bf16.cuh), one
// 128-column block at a time: 64 of a prompt's rows (RunTensorMatVec), or the up to 8 slots of
// one routed expert's piece padded to 16 (RunTensorExpertMatVec, the register-tiled kernel's
// grouping: expert_groups_math.h).
//
// Each block is staged into shared memory as bf16: the activations as they are (the pair order's
// inputs are exact in bf16: FP8 act_quant values, bf16-rounded activations), the weights as their
// raw values without scales (e4m3 and e2m1 are exact in bf16; BF16 weights are bf16). Products of
// two bf16 values are exact in fp32, so the only rounding before the fold is the tensor cores' own
// fp32 sum over a scale group (FP8 and BF16: the 128-column block; FP4: its 32-column group). Each
// group's sums are then scaled (powers of two: exact) and added in double, as the CPU's pair
// order folds its block sums. The result differs from the CPU's bits only where fp32 sums in
// another order round differently: the fast contract, not the single-row kernel's bits.
//
// A staged row is 64 bf16 pairs plus 4 words of padding, so a fragment's loads (lane 4g + t reads
// word t of row g) hit 32 different banks.
//
// An input with a value not exact in bf16 (rare: the CPU then takes the columns order) is marked
// while it is staged, and after the tiles its outputs are recomputed in the columns order by a
// half-warp per row (matvec_lanes.cuh), the single-row kernel's bits.
#include <cuda_runtime.h>

#include <atomic>
#include <string>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/expert_groups_math.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/matvec_lanes.cuh"
#include "engine/kernels/cuda/matvec_tensor.h"
#include "engine/kernels/cuda/matvec_tiled_math.h"
#include "engine/kernels/cuda/mma_bf16.cuh"
#include "engine/kernels/cuda/rows_tiles.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kTensorThreads = 256;
constexpr int kTensorWords = kTiledBlockCols / 2 + 4;  // a staged row: bf16 pairs and padding
constexpr int kTensorGroups = 4;                       // FP4's scale groups per block
constexpr int kExpertTileInputs = 16;  // an expert piece's up to 8 slots, padded to one m16

// How the eight warps share a tile of kM inputs by kTensorTileRows rows: a prompt's 64 inputs as
// 2 x 4 warps of 32 inputs (two m16) by 16 rows (two n8); an expert piece's 16 as 1 x 8 warps of
// 16 inputs (one m16) by 8 rows (one n8). (A warp tile of 32 x 32 needed 96-168 registers and
// spilled its double accumulators.)
template <int kM>
struct TensorWarps {
  static constexpr int kMi = kM >= 32 ? 2 : 1;  // m16 products per warp
  static constexpr int kAlongM = kM / (16 * kMi);
  static constexpr int kAlongN = kTensorThreads / 32 / kAlongM;
  static constexpr int kRows = kTensorTileRows / kAlongN;
  static constexpr int kNj = kRows / 8;  // n8 products per warp
  static_assert(kAlongM * kAlongN * 32 == kTensorThreads && kNj >= 1, "the warps cover the tile");
};

template <int kM>
struct TensorShared {
  uint32_t x[kM][kTensorWords];
  uint32_t w[kTensorTileRows][kTensorWords];
  float scale[kTensorTileRows][kTensorGroups];  // FP8: [o][0] the block's; FP4: each group's
  int not_exact[kM];
};
static_assert(sizeof(TensorShared<kTensorTileInputs>) <= 48 * 1024,
              "the tile fits static shared memory");
static_assert(kExpertPieceSlots <= kExpertTileInputs, "an expert piece fits one m16");

__device__ __forceinline__ uint32_t Bf16Pair(float even, float odd) {
  return (FloatBits(even) >> 16) | (FloatBits(odd) & 0xffff0000u);
}

// The block's activations: input m's 128 values as 64 bf16 pairs (zeros past the tile's inputs),
// marking an input with a value not exact in bf16. Four floats per thread and step.
template <int kM>
__device__ __forceinline__ void StageInputs(TensorShared<kM>& sh, const GemmTile& t, int blk,
                                            int tid) {
  constexpr int kQuads = kM * kTiledBlockCols / 4;
  for (int q = tid; q < kQuads; q += kTensorThreads) {
    const int m = q / (kTiledBlockCols / 4), c4 = q % (kTiledBlockCols / 4);
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (m < t.inputs) {
      const float* p = GemmXRow(t, m) + int64_t{blk} * kTiledBlockCols + 4 * c4;
      for (int e = 0; e < 4; ++e) v[e] = p[e];
      bool exact = true;
      for (int e = 0; e < 4; ++e) exact = exact && ExactInBf16(v[e]);
      if (!exact) RaiseFlag(&sh.not_exact[m]);
    }
    sh.x[m][2 * c4] = Bf16Pair(v[0], v[1]);
    sh.x[m][2 * c4 + 1] = Bf16Pair(v[2], v[3]);
  }
}

// The block's weights, raw values as bf16 pairs (past the tile's rows: its last row, read and
// never written), and their scales. A thread takes 16 columns of a row per step (one 16-byte load
// of FP8, 8 bytes of FP4, two 16-byte loads of BF16): 2 steps of 256 threads cover 64 x 128.
template <WeightKind K, int kM>
__device__ __forceinline__ void StageWeights(TensorShared<kM>& sh, const WeightView& w,
                                             int64_t row0, int tile_rows, int blk, int tid) {
  constexpr int kPieces = kTiledBlockCols / 16;
  const int64_t c0 = int64_t{blk} * kTiledBlockCols;
  DSAGENT_UNROLL
  for (int item = tid; item < kTensorTileRows * kPieces; item += kTensorThreads) {
    const int o = item / kPieces, piece = item % kPieces;
    const int64_t row = row0 + (o < tile_rows ? o : tile_rows - 1);
    const int64_t c = c0 + 16 * piece;
    float v[16];
    if constexpr (K == WeightKind::kFP8) {
      uint32_t words[4];
      LoadWords<4>(w.data + row * w.cols + c, words);
      DSAGENT_UNROLL
      for (int b = 0; b < 16; ++b) {
        const bool nan = ((E4M3NanBytes(words[b / 4]) >> (8 * (b % 4) + 7)) & 1u) != 0;
        v[b] = nan ? QuietNanF() : E4M3ByteScaled(words[b / 4], b % 4) * 0x1p120f;
      }
    } else if constexpr (K == WeightKind::kFP4) {
      uint32_t words[2];
      LoadWords<2>(w.data + (row * w.cols + c) / 2, words);
      DSAGENT_UNROLL
      for (int n = 0; n < 16; ++n) v[n] = E2M1NibbleScaled(words[n / 8], n % 8) * 0x1p126f;
    } else {
      static_assert(K == WeightKind::kBF16, "the tensor kernel takes BF16, FP8 or FP4 weights");
      uint32_t words[8];
      const uint8_t* p = w.data + 2 * (row * w.cols + c);
      LoadWords<4>(p, words);
      LoadWords<4>(p + 16, words + 4);
      DSAGENT_UNROLL
      for (int m = 0; m < 8; ++m) {
        v[2 * m] = BitsFloat(words[m] << 16);
        v[2 * m + 1] = BitsFloat(words[m] & 0xffff0000u);
      }
    }
    DSAGENT_UNROLL
    for (int e = 0; e < 8; ++e) sh.w[o][8 * piece + e] = Bf16Pair(v[2 * e], v[2 * e + 1]);
    if (piece < kTensorGroups) {
      float s = 1.0f;
      if constexpr (K == WeightKind::kFP8) {
        s = E8M0ToFloat(w.scale[(row / 128) * w.scale_cols + blk]);
      } else if constexpr (K == WeightKind::kFP4) {
        s = E8M0ToFloat(w.scale[row * w.scale_cols + int64_t{blk} * kTensorGroups + piece]);
      }
      sh.scale[o][piece] = s;
    }
  }
}

// An input's outputs of the tile in the columns order, a half-warp per row. Not inlined: the
// single-row path's calls would otherwise cost the tile's loop registers (ptxas spilled there).
__device__ __forceinline__ void ColumnsOrderOutputs(const WeightView& w, int64_t row0,
                                                    int tile_rows, const float* x, float* y,
                                                    bool round_bf16, int tid) {
  for (int o = tid >> 4; o < kTensorTileRows; o += kTensorThreads / 16) {
    MatVecLanesRow(w, row0 + o, o < tile_rows, x, y + o, round_bf16, false, tid & 15);
  }
}

// The CTA's tile (TensorWarps<kM>'s shares), every thread of the CTA taking part.
template <WeightKind K, int kM>
__device__ __forceinline__ void TensorCta(const GemmTile& t) {
  using Warps = TensorWarps<kM>;
  constexpr int kMi = Warps::kMi, kNj = Warps::kNj;
  __shared__ TensorShared<kM> sh;
  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, q4 = lane & 3;
  if (tid < kM) sh.not_exact[tid] = 0;
  const int wm = (warp / Warps::kAlongN) * (16 * kMi), wn = (warp % Warps::kAlongN) * Warps::kRows;
  double acc[kMi][kNj][4];
  DSAGENT_UNROLL
  for (int i = 0; i < kMi; ++i) {
    DSAGENT_UNROLL
    for (int j = 0; j < kNj; ++j) {
      DSAGENT_UNROLL
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0;
    }
  }
  constexpr int kGroups = K == WeightKind::kFP4 ? kTensorGroups : 1;
  constexpr int kSteps = kTiledBlockCols / 16 / kGroups;  // 16-column MMA steps per scale group
  const int blocks = static_cast<int>(t.w.cols / kTiledBlockCols);
  for (int blk = 0; blk < blocks; ++blk) {
    __syncthreads();  // the previous block's fragments are read (and not_exact is cleared)
    StageInputs<kM>(sh, t, blk, tid);
    StageWeights<K, kM>(sh, t.w, t.row0, t.tile_rows, blk, tid);
    __syncthreads();
    // FP4's four groups one after another, not unrolled: unrolled they took 128 registers and
    // spilled.
#if defined(__CUDACC__)
#pragma unroll 1
#endif
    for (int q = 0; q < kGroups; ++q) {
      float part[kMi][kNj][4];
      DSAGENT_UNROLL
      for (int i = 0; i < kMi; ++i) {
        DSAGENT_UNROLL
        for (int j = 0; j < kNj; ++j) {
          DSAGENT_UNROLL
          for (int e = 0; e < 4; ++e) part[i][j][e] = 0.0f;
        }
      }
      DSAGENT_UNROLL
      for (int s = 0; s < kSteps; ++s) {
        const int kw = (q * kSteps + s) * 8;  // the step's first word: 16 columns are 8 words
        uint32_t af[kMi][4], bf[kNj][2];
        DSAGENT_UNROLL
        for (int i = 0; i < kMi; ++i) {
          const int r = wm + 16 * i + g;
          af[i][0] = sh.x[r][kw + q4];
          af[i][1] = sh.x[r + 8][kw + q4];
          af[i][2] = sh.x[r][kw + 4 + q4];
          af[i][3] = sh.x[r + 8][kw + 4 + q4];
        }
        DSAGENT_UNROLL
        for (int j = 0; j < kNj; ++j) {
          const int n = wn + 8 * j + g;
          bf[j][0] = sh.w[n][kw + q4];
          bf[j][1] = sh.w[n][kw + 4 + q4];
        }
        DSAGENT_UNROLL
        for (int i = 0; i < kMi; ++i) {
          DSAGENT_UNROLL
          for (int j = 0; j < kNj; ++j) MmaBf16(part[i][j], af[i], bf[j], part[i][j]);
        }
      }
      DSAGENT_UNROLL
      for (int j = 0; j < kNj; ++j) {
        DSAGENT_UNROLL
        for (int e = 0; e < 4; ++e) {
          const double scale = static_cast<double>(sh.scale[wn + 8 * j + 2 * q4 + (e & 1)][q]);
          DSAGENT_UNROLL
          for (int i = 0; i < kMi; ++i) acc[i][j][e] += static_cast<double>(part[i][j][e]) * scale;
        }
      }
    }
  }

  // not_exact was last written before the last block's second barrier: uniform over the CTA.
  DSAGENT_UNROLL
  for (int i = 0; i < kMi; ++i) {
    DSAGENT_UNROLL
    for (int j = 0; j < kNj; ++j) {
      DSAGENT_UNROLL
      for (int e = 0; e < 4; ++e) {
        const int m = wm + 16 * i + g + 8 * (e >> 1), o = wn + 8 * j + 2 * q4 + (e & 1);
        if (m >= t.inputs || o >= t.tile_rows || sh.not_exact[m] != 0) continue;
        const float v = static_cast<float>(acc[i][j][e]);
        t.y[GemmInputRow(t, m) * t.y_stride + o] = t.round_bf16 ? RoundBf16(v) : v;
      }
    }
  }
  for (int m = 0; m < t.inputs; ++m) {
    if (sh.not_exact[m] == 0) continue;
    const int64_t row = GemmInputRow(t, m);
    ColumnsOrderOutputs(t.w, t.row0, t.tile_rows, GemmXRow(t, m), t.y + row * t.y_stride,
                        t.round_bf16, tid);
  }
}

template <WeightKind K>
__global__ void __launch_bounds__(kTensorThreads, 2) TensorKernel(TiledMatVec a) {
  AwaitPreviousKernel();
  TensorCta<K, kTensorTileInputs>(SingleWeightTile(a, kTensorTileInputs, kTensorTileRows));
}

// CTA (piece, row tile) of the routed experts' grouped slots (RunTiledExpertGemm's grid).
template <WeightKind K>
__global__ void __launch_bounds__(kTensorThreads, 2) ExpertTensorKernel(ExpertRowsArgs a) {
  AwaitPreviousKernel();
  if (static_cast<int>(blockIdx.x) >= *a.n_pieces) return;
  const ExpertPiece piece = a.pieces[blockIdx.x];
  const WeightView w = ExpertProductViews(a)[piece.expert];
  if (w.data == nullptr) return;  // kept on the host (uniform over the CTA)
  TensorCta<K, kExpertTileInputs>(ExpertPieceTile(a, piece, w, kTensorTileRows));
}

// One warp's MmaBf16 on fragments packed from a [16][16] and b [16][8] (bf16 bits, row-major)
// and c [16][8]: d [16][8]. The packing is mma_bf16.cuh's table.
__global__ void MmaTileKernel(const uint16_t* a, const uint16_t* b, const float* c, float* d) {
  AwaitPreviousKernel();
  const int lane = static_cast<int>(threadIdx.x), g = lane >> 2, t = lane & 3;
  auto pair = [](uint16_t lo, uint16_t hi) {
    return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  };
  const uint32_t af[4] = {
      pair(a[g * 16 + 2 * t], a[g * 16 + 2 * t + 1]),
      pair(a[(g + 8) * 16 + 2 * t], a[(g + 8) * 16 + 2 * t + 1]),
      pair(a[g * 16 + 2 * t + 8], a[g * 16 + 2 * t + 9]),
      pair(a[(g + 8) * 16 + 2 * t + 8], a[(g + 8) * 16 + 2 * t + 9]),
  };
  const uint32_t bf[2] = {
      pair(b[(2 * t) * 8 + g], b[(2 * t + 1) * 8 + g]),
      pair(b[(2 * t + 8) * 8 + g], b[(2 * t + 9) * 8 + g]),
  };
  const float cf[4] = {c[g * 8 + 2 * t], c[g * 8 + 2 * t + 1], c[(g + 8) * 8 + 2 * t],
                       c[(g + 8) * 8 + 2 * t + 1]};
  float df[4];
  MmaBf16(df, af, bf, cf);
  d[g * 8 + 2 * t] = df[0];
  d[g * 8 + 2 * t + 1] = df[1];
  d[(g + 8) * 8 + 2 * t] = df[2];
  d[(g + 8) * 8 + 2 * t + 1] = df[3];
}

template <WeightKind K>
void Launch(const TiledMatVec& a, dim3 grid, cudaStream_t stream) {
  LaunchKernel(TensorKernel<K>, "TensorKernel<K>", grid, kTensorThreads, 0, stream, a);
}
template <WeightKind K>
void Launch(const ExpertRowsArgs& a, dim3 grid, cudaStream_t stream) {
  LaunchKernel(ExpertTensorKernel<K>, "ExpertTensorKernel<K>", grid, kTensorThreads, 0, stream, a);
}

std::atomic<int64_t> launches{0};  // TensorLaunches

template <class Args>
void LaunchKind(const Args& a, dim3 grid, WeightKind kind, cudaStream_t stream) {
  launches.fetch_add(1, std::memory_order_relaxed);
  LaunchForTiledKind(kind, "the tensor-core MatVec",
                     [&](auto k) { Launch<decltype(k)::value>(a, grid, stream); });
}

}  // namespace

int64_t TensorLaunches() { return launches.load(std::memory_order_relaxed); }

bool TensorMatVecTakes(WeightKind kind, int64_t cols, int64_t rows, int64_t inputs) {
  return inputs >= kTensorMinInputs && TensorExpertTakes(kind, cols, rows);
}

void RunTensorMatVec(const TiledMatVec& m, WeightKind kind, cudaStream_t stream) {
  if (m.rows <= 0 || m.inputs <= 0 || m.groups <= 0) return;
  if (m.views != nullptr) throw CudaError("RunTensorMatVec: one weight, not a set");
  if (RegisterTiledOnly(m)) throw CudaError("RunTensorMatVec: the register-tiled kernel's work");
  const int64_t input_tiles = (m.inputs + kTensorTileInputs - 1) / kTensorTileInputs;
  const int64_t row_tiles = (m.rows + kTensorTileRows - 1) / kTensorTileRows;
  if (input_tiles > 0x7fffffff || row_tiles > 65535 || m.groups > 65535) {
    throw CudaError("RunTensorMatVec: " + std::to_string(m.inputs) + " inputs x " +
                    std::to_string(m.rows) + " rows x " + std::to_string(m.groups) + " groups");
  }
  const dim3 grid(static_cast<unsigned>(input_tiles), static_cast<unsigned>(row_tiles),
                  static_cast<unsigned>(m.groups));
  LaunchKind(m, grid, kind, stream);
}

bool TensorExpertTakes(WeightKind kind, int64_t cols, int64_t rows) {
  return kind != WeightKind::kF32 && cols > 0 && cols % kTiledBlockCols == 0 &&
         (rows + kTensorTileRows - 1) / kTensorTileRows <= 65535;
}

void RunTensorExpertMatVec(const ExpertRowsArgs& e, WeightKind kind, cudaStream_t stream) {
  if (e.rows <= 0 || e.slots <= 0) return;
  const dim3 grid(static_cast<unsigned>(e.slots),
                  static_cast<unsigned>((e.rows + kTensorTileRows - 1) / kTensorTileRows),
                  ExpertProducts(e));
  LaunchKind(e, grid, kind, stream);
}

void RunMmaTile(const uint16_t* a, const uint16_t* b, const float* c, float* d,
                cudaStream_t stream) {
  LaunchKernel(MmaTileKernel, "MmaTileKernel", dim3(1), 32, 0, stream, a, b, c, d);
  CheckCuda(cudaGetLastError(), "MmaTile launch");
}

}  // namespace dsagent::engine::kernels::cuda
