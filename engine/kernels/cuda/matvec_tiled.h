// The tiled pair-order MatVec (matvec_tiled.cu; several activation rows: matvec_gemm.cu), internal
// to the CUDA backend: matvec.cu's
// MatVec, MatVecRows and ExpertMatVec hand it every weight it takes (BF16, FP8 or FP4 with whole
// 128-column blocks) and keep the 16-lanes-per-row kernel for the rest. Same bits as the CPU's
// WeightRowDotsF32 either way.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/expert_groups_math.h"

namespace dsagent::engine::kernels::cuda {

// What the single-row kernel multiplies instead of x itself, computed as each CTA stages its
// activation row (so that no launch of its own comes before the product):
// - quantize_fp8: act_quant(x), FP8 per 128 (ActQuantKernel's bits);
// - swiglu_u as well: act_quant(SwiGluValue(x, u, swiglu_limit, weight)), u at x's offsets and
//   weight swiglu_weights[t] for input t (none: unweighted) — SwiGluQuantKernel's bits;
// - or norm_weight as well: act_quant(RmsNorm(x) with norm_weight and norm_eps) — RmsNormKernel's
//   bits with its FP8 copy (RmsNormQuant). Needs the launch's shared memory to hold the norm's
//   partial sums after x (RunTiledMatVec sees to it).
struct TiledInput {
  bool quantize_fp8 = false;
  const float* swiglu_u = nullptr;
  const float* swiglu_weights = nullptr;
  float swiglu_limit = 0.0f;
  const float* norm_weight = nullptr;
  float norm_eps = 0.0f;
};

// One launch: rows [row_begin, row_begin + rows) of a weight times `inputs` activation rows;
// output i of input t goes to y[t * y_stride + i]. The weight is `single`, or views[ids[t]] per
// input (ExpertMatVec's slots) when `views` is set; all of them have the same kind and columns.
// With `groups` > 1, group g does the same with the weight's rows shifted by g * rows, x by
// g * x_group_stride and y by g * y_group_stride (MatVecRowGroups), all in one launch.
struct TiledMatVec {
  const WeightView* views = nullptr;
  const int32_t* ids = nullptr;
  WeightView single{};
  int64_t row_begin = 0, rows = 0, inputs = 0;
  const float* x = nullptr;
  int64_t x_stride = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
  int64_t groups = 1, x_group_stride = 0, y_group_stride = 0;
  bool round_bf16 = false;
  // The register-tiled kernel: with quantize_arrivals set, each 128-column block of an input
  // tile's output rows (the groups side by side, y_group_stride = rows; rows a multiple of its
  // 32-row tiles and rows * groups of 128; row_begin 0) act_quant'd in FP8 in place by its last
  // CTA to finish, counting on quantize_arrivals[input tile * rows * groups / 128 + block] (zero
  // before, left zero).
  unsigned* quantize_arrivals = nullptr;
  // How each CTA stages its activation row (the single-row kernel only; x itself stays as it is).
  TiledInput input{};
  // The register-tiled kernel's pair (groups 1): with second.data set, grid z 1 multiplies
  // `second` (single's rows and columns) into y_second as z 0 does single into y; with
  // swiglu_arrivals too (rows % 128 == 0, row_begin 0), each 128-column block of an input tile's
  // rows of y becomes the FP8 act_quant of SwiGluValue(y, y_second, swiglu_limit, unweighted)
  // (SwiGluQuantKernel's bits) by the last of the block's CTAs of both products to finish,
  // counting on swiglu_arrivals[input tile * rows / 128 + block] (zero before, left zero).
  WeightView second{};
  float* y_second = nullptr;
  unsigned* swiglu_arrivals = nullptr;
  float swiglu_limit = 0.0f;
  // The register-tiled kernel (groups 1, row_begin 0, rows a multiple of 128): with
  // norm_arrivals set, each input's whole output row is RMS-normed in place with norm_weight and
  // norm_eps and its FP8 act_quant (per 128) written to norm_fp8 (the same stride as y;
  // RmsNormQuant's bits) by the last of the input tile's CTAs to finish, counting on
  // norm_arrivals[input tile] (zero before, left zero).
  unsigned* norm_arrivals = nullptr;
  const float* norm_weight = nullptr;
  float norm_eps = 0.0f;
  float* norm_fp8 = nullptr;
};

// Calls launch(std::integral_constant<WeightKind, K>{}) for `kind`'s K, one of the three kinds
// the tiled kernels are instantiated for (BF16, FP8, FP4), then checks the launch; for F32 throws
// CudaError naming `who`. The one switch of the tiled, register-tiled and tensor-core launches.
template <class F>
void LaunchForTiledKind(WeightKind kind, const char* who, F&& launch) {
  switch (kind) {
    case WeightKind::kFP8:
      launch(std::integral_constant<WeightKind, WeightKind::kFP8>{});
      break;
    case WeightKind::kBF16:
      launch(std::integral_constant<WeightKind, WeightKind::kBF16>{});
      break;
    case WeightKind::kFP4:
      launch(std::integral_constant<WeightKind, WeightKind::kFP4>{});
      break;
    case WeightKind::kF32:
      throw CudaError(std::string(who) + ": F32 weights take the columns-order kernel");
  }
  CheckCuda(cudaGetLastError(), std::string(who) + " launch");
}

// Whether `m` asks for what only the register-tiled kernel does (a pair, its output's act_quant,
// SwiGLU or norm): the other kernels refuse it.
inline bool RegisterTiledOnly(const TiledMatVec& m) {
  return m.second.data != nullptr || m.quantize_arrivals != nullptr ||
         m.swiglu_arrivals != nullptr || m.norm_arrivals != nullptr;
}

// Whether the tiled kernel takes weights of this kind and column count.
bool TiledMatVecTakes(WeightKind kind, int64_t cols);

// Queues the launch on `stream`. Throws CudaError for a launch error or an F32 weight.
void RunTiledMatVec(const TiledMatVec& m, WeightKind kind, int64_t cols, cudaStream_t stream);

// The routed experts' slots grouped by expert (expert_groups_math.h), on the device: order
// [slots], pieces [slots] (the first *n_pieces used), n_pieces [1]. One CTA; slots <= 2048 (a
// chunk of kDeviceChunkRows rows times top 8).
constexpr int64_t kMaxGroupedSlots = 2048;
void RunGroupSlots(const int32_t* ids, int64_t slots, int32_t* order, ExpertPiece* pieces,
                   int32_t* n_pieces, cudaStream_t stream);

// A product over the grouping (RunTiledExpertGemm): CTA (piece, tile) multiplies the piece's
// expert (views[expert]; none on the device: skipped) with its slots' rows of x into their rows of
// y; slot s reads row s / x_row_slots of x (1: each slot its own row; the MoE's k: each token's
// row, read by its k slots). With views_second set, a second product of the same shape on the
// same inputs in the same launch (grid z 1: views_second into y_second; the MoE's w1 and w3).
struct ExpertRowsArgs {
  const WeightView* views = nullptr;
  const ExpertPiece* pieces = nullptr;
  const int32_t* n_pieces = nullptr;
  const int32_t* order = nullptr;
  int64_t slots = 0, rows = 0;
  const float* x = nullptr;
  int64_t x_stride = 0, x_row_slots = 1;
  float* y = nullptr;
  int64_t y_stride = 0;
  bool round_bf16 = false;
  const WeightView* views_second = nullptr;
  float* y_second = nullptr;
  // The register-tiled kernel's pair (views_second set): with swiglu_arrivals, each 128-column
  // block of a piece's slots' rows of y and y_second (w1's and w3's outputs; rows % 128 == 0)
  // becomes, in y, the FP8 act_quant of SwiGluValue(y, y_second, swiglu_limit, weight
  // swiglu_weights[slot] or none) — SwiGluQuantKernel's bits — by the last of the block's CTAs of
  // both products to finish, counting on swiglu_arrivals[piece * rows / 128 + block] (zero before,
  // left zero).
  unsigned* swiglu_arrivals = nullptr;
  const float* swiglu_weights = nullptr;
  float swiglu_limit = 0.0f;
};
// The grid's z extent for the arguments: one product or two.
inline unsigned ExpertProducts(const ExpertRowsArgs& a) {
  return a.views_second != nullptr ? 2 : 1;
}

// The register-tiled kernel (matvec_gemm.cu): a CTA multiplies 32 weight rows by up to 8
// activation rows, decoding each weight value once for them and keeping every (row, input)'s
// lanes in registers. Same bits as RunTiledMatVec for every input. The single weight (with
// `groups`, like RunTiledMatVec), or the routed experts' grouped slots (CTA (piece, row tile)).
// Takes the weights the single-row kernel takes.
bool TiledMatVecGemmTakes(WeightKind kind, int64_t cols, int64_t rows);
void RunTiledMatVecGemm(const TiledMatVec& m, WeightKind kind, cudaStream_t stream);
void RunTiledExpertGemm(const ExpertRowsArgs& a, WeightKind kind, cudaStream_t stream);

}  // namespace dsagent::engine::kernels::cuda
