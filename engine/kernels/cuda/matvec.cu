// MatVec: the `fast` numerics' fused dequantise-and-dot on the device (ops.h). Sixteen threads
// per weight row, thread j being the contract's lane j (kernels/cpu/weight_dot_f32.h): it keeps
// block[j] in fp32 and lanes[j] in double across the row's 128-column blocks; lane 0 also keeps
// the tail. The block's threads first check together whether their input row is exact in bf16
// (then BF16/FP8/FP4 weights take the pair order, as on the CPU). The lanes are then combined by
// shuffles in the contract's order ((i, i+8), (i, i+4), (0, 2) (1, 3), (0, 1)), so the result is
// bit-identical to WeightRowDotsF32.
//
// BF16/FP8/FP4 weights of whole 128-column blocks go to the tiled kernel (matvec_tiled.cu: same
// bits, 16-byte loads, many rows' blocks in flight); several activation rows go, by default, to
// the register-tiled one (matvec_gemm.cu: each weight value decoded once for up to 8 rows), or,
// as RowsKernelChoice() says, through the single-row kernel one by one or, for a prompt's rows, on
// the tensor cores (matvec_tensor.cu: the fast contract, not these bits); this one takes the rest
// (F32 weights, odd column counts), where lane j reads columns j, j+16, ... of a row.
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/exact_dot_cta.cuh"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/l2_prefetch.cuh"
#include "engine/kernels/cuda/matvec_gemm_math.h"
#include "engine/kernels/cuda/matvec_lanes.cuh"
#include "engine/kernels/cuda/matvec_tensor.h"
#include "engine/kernels/cuda/matvec_tiled.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kLanes = 16;
constexpr int kRowsPerBlock = 16;  // 256 threads

// Whether every value of the input row is exact in bf16: all threads of the block look at a
// share of it (every thread must call this: it synchronises the block).
__device__ bool InputExactInBf16(const float* xt, int64_t cols) {
  const int tid = static_cast<int>(threadIdx.y * blockDim.x + threadIdx.x);
  const int threads = static_cast<int>(blockDim.x * blockDim.y);
  int exact = 1;
  for (int64_t c = tid; c < cols; c += threads) exact &= ExactInBf16(xt[c]) ? 1 : 0;
  return __syncthreads_and(exact) != 0;
}

// Rows [row_begin, row_begin + rows) of the weight (global row numbers: a group's rows may start
// inside an FP8 scale block); output i of input t goes to y[t * y_stride + i].
__global__ void MatVecKernel(WeightView w, int64_t row_begin, int64_t rows, const float* x,
                             int64_t x_stride, float* y, int64_t y_stride, bool round_bf16) {
  AwaitPreviousKernel();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
  const int64_t t = blockIdx.y;
  const bool pairs = InputExactInBf16(x + t * x_stride, w.cols) && w.kind != WeightKind::kF32;
  MatVecLanesRow(w, row_begin + i, i < rows, x + t * x_stride, y + t * y_stride + i, round_bf16,
                 pairs, static_cast<int>(threadIdx.x));
}

// Grid (row blocks, slots): slot s multiplies weight views[ids[s]] with x + s * x_stride into
// y + s * y_stride.
__global__ void ExpertMatVecKernel(const WeightView* views, const int32_t* ids, int64_t rows,
                                   const float* x, int64_t x_stride, float* y, int64_t y_stride,
                                   bool round_bf16) {
  AwaitPreviousKernel();
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
  const int64_t s = blockIdx.y;
  const WeightView w = views[ids[s]];
  if (w.data == nullptr) return;  // an expert kept on the host: uniform over the block
  const bool pairs = InputExactInBf16(x + s * x_stride, w.cols) && w.kind != WeightKind::kF32;
  MatVecLanesRow(w, row, row < rows, x + s * x_stride, y + s * y_stride + row, round_bf16, pairs,
                 static_cast<int>(threadIdx.x));
}

// One CTA per (output row, input row) of ExactMatVecThreads(cols) threads: thread t sums the
// exact products of columns t, t + threads, ... in double; each warp combines its lanes by xor
// shuffles and the warps' sums are added in order (RowDotF64ByCta is the host twin). A whole CTA
// per row, rather than a warp, because the exact products' matrices are short and wide (the mHC
// fn: 24 rows of 16,384; the router's gate: 256 of 4,096): a warp per row left most of the
// device idle and each lane hundreds of loads in a row.
// Grid (rows, inputs or slots): output i of input t is row row_begin + i of the weight — `single`,
// or views[ids[t]] per slot when `views` is set (ExpertMatVec's; a view without data, an expert
// kept on the host, is skipped) — times x + t * x_stride, into y[t * y_stride + i]. With
// `second` set (MatVecExactPair: row_begin 0, no views) the CTAs past single_rows take its rows
// instead, into y_second: two weights on one input in one launch.
__global__ void MatVecExactKernel(const WeightView* views, const int32_t* ids, WeightView single,
                                  int64_t row_begin, const float* x, int64_t x_stride, float* y,
                                  int64_t y_stride, bool round_bf16, WeightView second,
                                  int64_t single_rows, float* y_second) {
  int64_t i = blockIdx.x;
  const int64_t t = blockIdx.y;
  if (second.data != nullptr && i >= single_rows) {  // uniform over the CTA
    single = second;
    i -= single_rows;
    y = y_second;
  }
  // One weight: its row is requested into L2 before the wait for the kernel ahead (the first
  // input's CTA; the slots' weights come from the router's ids, after it).
  if (views == nullptr && t == 0) {
    PrefetchWeightRowsL2(single, row_begin + i, 1, static_cast<int>(threadIdx.x),
                         static_cast<int>(blockDim.x));
  }
  AwaitPreviousKernel();
  const WeightView w = views != nullptr ? views[ids[t]] : single;
  if (w.data == nullptr) return;  // uniform over the CTA
  const double total = ExactRowDotCta(w, row_begin + i, x + t * x_stride);
  if (threadIdx.x == 0) {
    const float v = static_cast<float>(total);
    y[t * y_stride + i] = round_bf16 ? RoundBf16(v) : v;
  }
}

// h[j * dim + d] = W[token, d] for every stream j: the embedding row, dequantised as
// WeightMatrix::DequantRow does (value times scale in float), copied to the hc streams.
// Grid (columns, rows): row y's token and streams.
__global__ void EmbedKernel(WeightView w, const int32_t* token, int64_t hc, float* h) {
  AwaitPreviousKernel();
  const int64_t d = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (d >= w.cols) return;
  token += blockIdx.y;
  h += static_cast<int64_t>(blockIdx.y) * hc * w.cols;
  const float v = WeightAt(w, *token, d);
  for (int64_t j = 0; j < hc; ++j) h[j * w.cols + d] = v;
}

WeightKind KindOf(WeightFormat f) {
  switch (f) {
    case WeightFormat::kBF16:
      return WeightKind::kBF16;
    case WeightFormat::kF32:
      return WeightKind::kF32;
    case WeightFormat::kFP8:
      return WeightKind::kFP8;
    case WeightFormat::kFP4:
      return WeightKind::kFP4;
  }
  return WeightKind::kBF16;
}

}  // namespace

WeightView ViewOf(const DeviceWeight& w) {
  return WeightView{KindOf(w.format), w.data.as<const uint8_t>(), w.scale.as<const uint8_t>(),
                    w.cols, w.scale_cols};
}

namespace {

void CheckRows(const DeviceWeight& w, int64_t row_begin, int64_t rows) {
  if (row_begin < 0 || rows < 0 || row_begin + rows > w.rows) {
    throw CudaError("MatVecRows: rows [" + std::to_string(row_begin) + ", " +
                    std::to_string(row_begin + rows) + ") of a weight with " +
                    std::to_string(w.rows));
  }
}

void LaunchByLanes(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                   int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                   CudaStream& stream) {
  const dim3 block(kLanes, kRowsPerBlock);
  const dim3 grid(static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock),
                  static_cast<unsigned>(x_rows));
  LaunchKernel(MatVecKernel, "MatVecKernel", grid, block, 0,
               static_cast<cudaStream_t>(stream.handle()), ViewOf(w), row_begin, rows, x, x_stride,
               y, y_stride, round_bf16);
  CheckCuda(cudaGetLastError(), "MatVec launch");
}

// MatVecExactKernel over `rows` rows from row_begin of `single` (or of views[ids[t]]) and
// `inputs` activation rows (slots) of `cols` values.
// With `second` set (MatVecExactPair), its second_rows rows follow into y_second.
void LaunchExact(const WeightView* views, const int32_t* ids, WeightView single, int64_t row_begin,
                 int64_t rows, int64_t inputs, int64_t cols, const float* x, int64_t x_stride,
                 float* y, int64_t y_stride, bool round_bf16, CudaStream& stream,
                 WeightView second = {}, int64_t second_rows = 0, float* y_second = nullptr) {
  if (rows + second_rows <= 0 || inputs <= 0) return;
  if (inputs > 65535) {
    throw CudaError("MatVecExact: " + std::to_string(inputs) + " input rows (at most 65535)");
  }
  const dim3 grid(static_cast<unsigned>(rows + second_rows), static_cast<unsigned>(inputs));
  LaunchKernel(MatVecExactKernel, "MatVecExactKernel", grid, ExactMatVecThreads(cols), 0,
               static_cast<cudaStream_t>(stream.handle()), views, ids, single, row_begin, x,
               x_stride, y, y_stride, round_bf16, second, rows, y_second);
  CheckCuda(cudaGetLastError(), "MatVecExact launch");
}

// The tiled launch's shape, activations and outputs (the caller sets the weight).
TiledMatVec TiledArgs(int64_t rows, int64_t inputs, const float* x, int64_t x_stride, float* y,
                      int64_t y_stride, bool round_bf16) {
  TiledMatVec m;
  m.rows = rows;
  m.inputs = inputs;
  m.x = x;
  m.x_stride = x_stride;
  m.y = y;
  m.y_stride = y_stride;
  m.round_bf16 = round_bf16;
  return m;
}

// MatVecRows and its variants: the same launch, with the given kernel for several rows.
void MatVecRowsOf(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                  int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                  RowsKernel kernel, CudaStream& stream) {
  CheckRows(w, row_begin, rows);
  if (rows == 0 || x_rows <= 0) return;
  const WeightView view = ViewOf(w);
  if (w.exact) {
    LaunchExact(nullptr, nullptr, view, row_begin, rows, x_rows, w.cols, x, x_stride, y, y_stride,
                round_bf16, stream);
    return;
  }
  if (!TiledMatVecTakes(view.kind, w.cols)) {
    LaunchByLanes(w, row_begin, rows, x, x_rows, x_stride, y, y_stride, round_bf16, stream);
    return;
  }
  TiledMatVec m = TiledArgs(rows, x_rows, x, x_stride, y, y_stride, round_bf16);
  m.single = view;
  m.row_begin = row_begin;
  const auto raw = static_cast<cudaStream_t>(stream.handle());
  if (kernel == RowsKernel::kTensor && TensorMatVecTakes(view.kind, w.cols, rows, x_rows)) {
    RunTensorMatVec(m, view.kind, raw);
    return;
  }
  if (x_rows > 1 && kernel != RowsKernel::kByInput &&
      TiledMatVecGemmTakes(view.kind, w.cols, rows)) {
    RunTiledMatVecGemm(m, view.kind, raw);
    return;
  }
  RunTiledMatVec(m, view.kind, w.cols, raw);
}

EnvSwitch rows_by_input("DSAGENT_CUDA_MATVEC_ROWS", "by-input");
EnvSwitch rows_tensor("DSAGENT_CUDA_MATVEC_ROWS", "tensor");

}  // namespace

RowsKernel RowsKernelChoice() {
  if (rows_by_input.On()) return RowsKernel::kByInput;
  return rows_tensor.On() ? RowsKernel::kTensor : RowsKernel::kGemm;
}

void SetRowsKernel(RowsKernel kernel) {
  rows_by_input.Set(kernel == RowsKernel::kByInput);
  rows_tensor.Set(kernel == RowsKernel::kTensor);
}

void MatVecRows(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                CudaStream& stream) {
  MatVecRowsOf(w, row_begin, rows, x, x_rows, x_stride, y, y_stride, round_bf16, RowsKernelChoice(),
               stream);
}

namespace {

// MatVecRowGroups' launch; with quantize_arrivals, the register-tiled kernel quantises its output
// blocks too where it takes the product (returns whether it did).
bool RowGroupsLaunch(const DeviceWeight& w, int64_t groups, int64_t group_rows, const float* x,
                     int64_t x_rows, int64_t x_stride, int64_t x_group_stride, float* y,
                     int64_t y_stride, int64_t y_group_stride, bool round_bf16,
                     unsigned* quantize_arrivals, CudaStream& stream) {
  if (groups <= 0 || group_rows <= 0 || x_rows <= 0) return false;
  CheckRows(w, 0, groups * group_rows);
  const WeightView view = ViewOf(w);
  const RowsKernel kernel = x_rows > 1 ? RowsKernelChoice() : RowsKernel::kByInput;
  const bool tensor =
      kernel == RowsKernel::kTensor && TensorMatVecTakes(view.kind, w.cols, group_rows, x_rows);
  const bool gemm = !tensor && kernel != RowsKernel::kByInput &&
                    TiledMatVecGemmTakes(view.kind, w.cols, group_rows);
  if (w.exact || !TiledMatVecTakes(view.kind, w.cols) || groups > 65535 ||
      (!gemm && !tensor && x_rows > 65535)) {
    for (int64_t g = 0; g < groups; ++g) {
      MatVecRows(w, g * group_rows, group_rows, x + g * x_group_stride, x_rows, x_stride,
                 y + g * y_group_stride, y_stride, round_bf16, stream);
    }
    return false;
  }
  TiledMatVec m = TiledArgs(group_rows, x_rows, x, x_stride, y, y_stride, round_bf16);
  m.single = view;
  m.groups = groups;
  m.x_group_stride = x_group_stride;
  m.y_group_stride = y_group_stride;
  const bool quantize = gemm && quantize_arrivals != nullptr && group_rows % kGemmTileRows == 0 &&
                        (groups * group_rows) % 128 == 0 && y_group_stride == group_rows;
  if (quantize) m.quantize_arrivals = quantize_arrivals;
  if (tensor) {
    RunTensorMatVec(m, view.kind, static_cast<cudaStream_t>(stream.handle()));
  } else if (gemm) {
    RunTiledMatVecGemm(m, view.kind, static_cast<cudaStream_t>(stream.handle()));
  } else {
    RunTiledMatVec(m, view.kind, w.cols, static_cast<cudaStream_t>(stream.handle()));
  }
  return quantize;
}

}  // namespace

void MatVecRowGroups(const DeviceWeight& w, int64_t groups, int64_t group_rows, const float* x,
                     int64_t x_rows, int64_t x_stride, int64_t x_group_stride, float* y,
                     int64_t y_stride, int64_t y_group_stride, bool round_bf16,
                     CudaStream& stream) {
  RowGroupsLaunch(w, groups, group_rows, x, x_rows, x_stride, x_group_stride, y, y_stride,
                  y_group_stride, round_bf16, nullptr, stream);
}

int64_t MatVecPairSwiGluArrivalsBytes(int64_t x_rows, int64_t rows) {
  return BlockArrivalsBytes(GemmInputTiles(x_rows), rows);
}

bool MatVecRowsPair(const DeviceWeight& a, const DeviceWeight& b, const float* x, int64_t x_rows,
                    float* ya, float* yb, bool round_bf16, unsigned* swiglu_arrivals,
                    CudaStream& stream) {
  if (x_rows <= 0) return false;
  const WeightView va = ViewOf(a), vb = ViewOf(b);
  const bool pair = x_rows > 1 && RowsKernelChoice() == RowsKernel::kGemm && !a.exact && !b.exact &&
                    a.format == b.format && a.rows == b.rows && a.cols == b.cols &&
                    TiledMatVecTakes(va.kind, a.cols) &&
                    TiledMatVecGemmTakes(va.kind, a.cols, a.rows) &&
                    GemmInputTiles(x_rows) <= 65535;
  if (!pair) {
    MatVec(a, x, x_rows, a.cols, ya, a.rows, round_bf16, stream);
    MatVec(b, x, x_rows, b.cols, yb, b.rows, round_bf16, stream);
    return false;
  }
  TiledMatVec m = TiledArgs(a.rows, x_rows, x, a.cols, ya, a.rows, round_bf16);
  m.single = va;
  m.second = vb;
  m.y_second = yb;
  const bool swiglu = swiglu_arrivals != nullptr && a.rows % 128 == 0 && FusedStepsOn();
  if (swiglu) m.swiglu_arrivals = swiglu_arrivals;
  RunTiledMatVecGemm(m, va.kind, static_cast<cudaStream_t>(stream.handle()));
  return swiglu;
}

int64_t MatVecRmsNormQuantArrivalsBytes(int64_t x_rows) {
  return GemmInputTiles(x_rows) * static_cast<int64_t>(sizeof(unsigned));
}

bool MatVecRmsNormQuant(const DeviceWeight& w, const float* x, int64_t x_rows, int64_t x_stride,
                        float* y, bool round_bf16, const float* norm_w, float eps, float* y_fp8,
                        unsigned* arrivals, CudaStream& stream) {
  if (w.rows % 128 != 0) {
    throw CudaError("MatVecRmsNormQuant: FP8 blocks of 128 need the outputs (" +
                    std::to_string(w.rows) + " a row) a multiple of 128");
  }
  if (x_rows <= 0) return false;
  const WeightView view = ViewOf(w);
  const bool fused = arrivals != nullptr && FusedStepsOn() && x_rows > 1 &&
                     RowsKernelChoice() == RowsKernel::kGemm && !w.exact &&
                     TiledMatVecTakes(view.kind, w.cols) &&
                     TiledMatVecGemmTakes(view.kind, w.cols, w.rows);
  if (!fused) {
    MatVec(w, x, x_rows, x_stride, y, w.rows, round_bf16, stream);
    RmsNormQuant(y, x_rows, w.rows, norm_w, eps, y, y_fp8, stream);
    return false;
  }
  // The product as MatVec gives it over several rows (MatVecRowsOf: the register-tiled kernel).
  TiledMatVec m = TiledArgs(w.rows, x_rows, x, x_stride, y, w.rows, round_bf16);
  m.single = view;
  m.norm_arrivals = arrivals;
  m.norm_weight = norm_w;
  m.norm_eps = eps;
  m.norm_fp8 = y_fp8;
  RunTiledMatVecGemm(m, view.kind, static_cast<cudaStream_t>(stream.handle()));
  return true;
}

int64_t QuantizedRowGroupsArrivalsBytes(int64_t groups, int64_t group_rows, int64_t x_rows) {
  return BlockArrivalsBytes(GemmInputTiles(x_rows), groups * group_rows);
}

void MatVecRowGroupsQuantized(const DeviceWeight& w, int64_t groups, int64_t group_rows,
                              const float* x, int64_t x_rows, int64_t x_stride,
                              int64_t x_group_stride, float* y, bool round_bf16, unsigned* arrivals,
                              CudaStream& stream) {
  const int64_t n = groups * group_rows;
  if (n % 128 != 0) {
    throw CudaError("MatVecRowGroupsQuantized: FP8 blocks of 128 need the outputs (" +
                    std::to_string(n) + " a row) a multiple of 128");
  }
  const bool fused =
      RowGroupsLaunch(w, groups, group_rows, x, x_rows, x_stride, x_group_stride, y, n, group_rows,
                      round_bf16, FusedStepsOn() ? arrivals : nullptr, stream);
  if (!fused && x_rows > 0) ActQuant(y, x_rows, n, 128, ActQuantFormat::kFp8, stream);
}

void MatVecRowsGemm(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                    int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                    CudaStream& stream) {
  MatVecRowsOf(w, row_begin, rows, x, x_rows, x_stride, y, y_stride, round_bf16, RowsKernel::kGemm,
               stream);
}

void MatVecRowsTensor(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                      int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                      CudaStream& stream) {
  MatVecRowsOf(w, row_begin, rows, x, x_rows, x_stride, y, y_stride, round_bf16,
               RowsKernel::kTensor, stream);
}

void MatVecRowsByInput(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                       int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride,
                       bool round_bf16, CudaStream& stream) {
  MatVecRowsOf(w, row_begin, rows, x, x_rows, x_stride, y, y_stride, round_bf16,
               RowsKernel::kByInput, stream);
}

void MatVecRowsByLanes(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                       int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride,
                       bool round_bf16, CudaStream& stream) {
  CheckRows(w, row_begin, rows);
  if (rows == 0 || x_rows <= 0) return;
  LaunchByLanes(w, row_begin, rows, x, x_rows, x_stride, y, y_stride, round_bf16, stream);
}

void MatVec(const DeviceWeight& w, const float* x, int64_t x_rows, int64_t x_stride, float* y,
            int64_t y_stride, bool round_bf16, CudaStream& stream) {
  MatVecRows(w, 0, w.rows, x, x_rows, x_stride, y, y_stride, round_bf16, stream);
}

namespace {

// The products whose input the tiled kernel quantises as it stages it: FP8 blocks of 128 within a
// row.
void CheckFp8Blocks(int64_t cols, const char* op) {
  if (cols % 128 != 0) {
    throw CudaError(std::string(op) + ": FP8 blocks of 128 need the columns a multiple of 128, " +
                    "not " + std::to_string(cols));
  }
}

// Whether the single-row tiled kernel takes w's product in `fast` numerics, staging its input as
// `input` says (else the caller computes that input first and runs MatVec).
bool StagesInput(const DeviceWeight& w) {
  return !w.exact && TiledMatVecTakes(KindOf(w.format), w.cols);
}

// w times one row x staged as `input` says, into y [w.rows] (StagesInput(w)).
void RunStagedRow(const DeviceWeight& w, const float* x, float* y, bool round_bf16,
                  const TiledInput& input, CudaStream& stream) {
  TiledMatVec m = TiledArgs(w.rows, 1, x, w.cols, y, w.rows, round_bf16);
  m.single = ViewOf(w);
  m.input = input;
  RunTiledMatVec(m, m.single.kind, w.cols, static_cast<cudaStream_t>(stream.handle()));
}

TiledInput SwiGluInput(const float* u, const float* weights, float limit) {
  TiledInput in;
  in.quantize_fp8 = true;
  in.swiglu_u = u;
  in.swiglu_weights = weights;
  in.swiglu_limit = limit;
  return in;
}

}  // namespace

void MatVecQuantizingInput(const DeviceWeight& w, float* x, float* y, bool round_bf16,
                           CudaStream& stream) {
  CheckFp8Blocks(w.cols, "MatVecQuantizingInput");
  if (!StagesInput(w)) {
    ActQuant(x, 1, w.cols, 128, ActQuantFormat::kFp8, stream);
    MatVec(w, x, 1, w.cols, y, w.rows, round_bf16, stream);
    return;
  }
  TiledInput input;
  input.quantize_fp8 = true;
  RunStagedRow(w, x, y, round_bf16, input, stream);
}

bool NormsAsItStages(const DeviceWeight& w) {
  return StagesInput(w) && FusedStepsOn() && w.cols % 128 == 0;
}

void MatVecOnRmsNorm(const DeviceWeight& w, float* x, const float* norm_w, float eps, float* y,
                     bool round_bf16, CudaStream& stream) {
  CheckFp8Blocks(w.cols, "MatVecOnRmsNorm");
  if (!NormsAsItStages(w)) {
    RmsNormQuant(x, 1, w.cols, norm_w, eps, x, x, stream);
    MatVec(w, x, 1, w.cols, y, w.rows, round_bf16, stream);
    return;
  }
  TiledInput input;
  input.quantize_fp8 = true;
  input.norm_weight = norm_w;
  input.norm_eps = eps;
  RunStagedRow(w, x, y, round_bf16, input, stream);
}

void MatVecExact(const DeviceWeight& w, const float* x, int64_t x_rows, int64_t x_stride, float* y,
                 int64_t y_stride, bool round_bf16, CudaStream& stream) {
  LaunchExact(nullptr, nullptr, ViewOf(w), 0, w.rows, x_rows, w.cols, x, x_stride, y, y_stride,
              round_bf16, stream);
}

void MatVecExactPair(const DeviceWeight& a, const DeviceWeight& b, const float* x, int64_t x_rows,
                     int64_t x_stride, float* ya, float* yb, int64_t y_stride, bool round_bf16,
                     CudaStream& stream) {
  if (a.cols != b.cols) {
    throw CudaError("MatVecExactPair: the weights' columns differ (" + std::to_string(a.cols) +
                    " and " + std::to_string(b.cols) + ")");
  }
  if (!FusedStepsOn() || a.rows <= 0 || b.rows <= 0) {
    MatVecExact(a, x, x_rows, x_stride, ya, y_stride, round_bf16, stream);
    MatVecExact(b, x, x_rows, x_stride, yb, y_stride, round_bf16, stream);
    return;
  }
  LaunchExact(nullptr, nullptr, ViewOf(a), 0, a.rows, x_rows, a.cols, x, x_stride, ya, y_stride,
              round_bf16, stream, ViewOf(b), b.rows, yb);
}

DeviceWeightSet DeviceWeightSet::Upload(const std::vector<WeightRows>& weights, int64_t rows,
                                        CudaStream& stream, int64_t on_device) {
  const int64_t count = static_cast<int64_t>(weights.size());
  if (on_device < 0) on_device = count;
  if (on_device > count) {
    throw std::invalid_argument("DeviceWeightSet: " + std::to_string(on_device) +
                                " on the device of " + std::to_string(count) + " weights");
  }
  DeviceWeightSet set;
  set.rows = rows;
  set.on_device = on_device;
  std::vector<WeightView> views;
  for (int64_t i = 0; i < count; ++i) {
    const WeightRows& w = weights[static_cast<size_t>(i)];
    if (i > 0 && (w.cols != set.cols || w.format != set.format)) {
      throw std::invalid_argument("DeviceWeightSet: the weights differ in format or columns");
    }
    set.cols = w.cols;
    set.format = w.format;
    if (i < on_device) {
      // One synchronisation for the whole set (below), not one a weight: `weights` stays valid
      // until then, and a staged upload (upload_staging.h) keeps the link busy from one expert
      // to the next.
      set.weights.push_back(DeviceWeight::Allocate(w.format, rows, w.cols));
      set.weights.back().Fill(w, stream);
      views.push_back(ViewOf(set.weights.back()));
    } else {
      // Kept on the host: a view without data, which the kernels skip.
      views.push_back(WeightView{KindOf(w.format), nullptr, nullptr, w.cols, 0});
    }
  }
  set.views = DeviceBuffer(views.size() * sizeof(WeightView));
  set.views.Upload(views.data(), set.views.bytes(), stream);
  stream.Synchronize();
  return set;
}

ExpertSetViews Views(const DeviceWeightSet& set) {
  return ExpertSetViews{set.views.as<const WeightView>(), set.format, set.rows, set.cols,
                        set.exact};
}

ExpertSetViews UploadExpertTable(
    const DeviceWeightSet& set,
    const std::vector<std::pair<int32_t, const DeviceWeight*>>& replacements, DeviceBuffer& table,
    CudaStream& stream, bool only_replacements, WeightView* staging) {
  const int64_t count = static_cast<int64_t>(set.views.bytes() / sizeof(WeightView));
  // The set's own views (the host experts' without data; all of them so with
  // only_replacements), then the replacements.
  std::vector<WeightView> own;
  if (staging == nullptr) {
    own.resize(static_cast<size_t>(count));
    staging = own.data();
  }
  WeightView* views = staging;  // [count] (.cu files are C++17: no std::span)
  for (int64_t e = 0; e < count; ++e) {
    views[e] = e < set.on_device && !only_replacements
                   ? ViewOf(set.weights[static_cast<size_t>(e)])
                   : WeightView{KindOf(set.format), nullptr, nullptr, set.cols, 0};
  }
  for (const auto& [e, w] : replacements) {
    if (e < 0 || e >= count) {
      throw std::invalid_argument("UploadExpertTable: expert " + std::to_string(e) + " of " +
                                  std::to_string(count));
    }
    if (w == nullptr || w->format != set.format || w->rows != set.rows || w->cols != set.cols) {
      throw std::invalid_argument("UploadExpertTable: expert " + std::to_string(e) +
                                  "'s weight differs from the set's format or shape");
    }
    views[e] = ViewOf(*w);
  }
  const size_t bytes = static_cast<size_t>(count) * sizeof(WeightView);
  if (table.bytes() < bytes) table = DeviceBuffer(bytes);
  table.Upload(views, bytes, stream);
  return ExpertSetViews{table.as<const WeightView>(), set.format, set.rows, set.cols, set.exact};
}

void ExpertMatVec(const DeviceWeightSet& set, const int32_t* ids, int64_t slots, const float* x,
                  int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                  CudaStream& stream) {
  ExpertMatVec(Views(set), ids, slots, x, x_stride, y, y_stride, round_bf16, stream);
}

void ExpertMatVec(const ExpertSetViews& set, const int32_t* ids, int64_t slots, const float* x,
                  int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                  CudaStream& stream) {
  if (set.rows <= 0 || slots <= 0) return;
  if (slots > 65535)
    throw CudaError("ExpertMatVec: " + std::to_string(slots) + " slots (at most 65535)");
  const WeightKind kind = KindOf(set.format);
  if (set.exact) {
    LaunchExact(set.views, ids, WeightView{}, 0, set.rows, slots, set.cols, x, x_stride, y,
                y_stride, round_bf16, stream);
    return;
  }
  if (TiledMatVecTakes(kind, set.cols)) {
    TiledMatVec m = TiledArgs(set.rows, slots, x, x_stride, y, y_stride, round_bf16);
    m.views = set.views;
    m.ids = ids;
    RunTiledMatVec(m, kind, set.cols, static_cast<cudaStream_t>(stream.handle()));
    return;
  }
  const dim3 block(kLanes, kRowsPerBlock);
  const dim3 grid(static_cast<unsigned>((set.rows + kRowsPerBlock - 1) / kRowsPerBlock),
                  static_cast<unsigned>(slots));
  LaunchKernel(ExpertMatVecKernel, "ExpertMatVecKernel", grid, block, 0,
               static_cast<cudaStream_t>(stream.handle()), set.views, ids, set.rows, x, x_stride, y,
               y_stride, round_bf16);
  CheckCuda(cudaGetLastError(), "ExpertMatVec launch");
}

void ExpertMatVecOnSwiGlu(const ExpertSetViews& set, const int32_t* ids, int64_t slots, float* g,
                          const float* u, const float* weights, float limit, float* y,
                          int64_t y_stride, bool round_bf16, CudaStream& stream) {
  CheckFp8Blocks(set.cols, "ExpertMatVecOnSwiGlu");
  if (set.rows <= 0 || slots <= 0) return;
  const WeightKind kind = KindOf(set.format);
  if (set.exact || !TiledMatVecTakes(kind, set.cols) || slots > 65535 || !FusedStepsOn()) {
    SwiGluQuant(g, u, slots, set.cols, weights, limit, g, stream);
    ExpertMatVec(set, ids, slots, g, set.cols, y, y_stride, round_bf16, stream);
    return;
  }
  TiledMatVec m = TiledArgs(set.rows, slots, g, set.cols, y, y_stride, round_bf16);
  m.views = set.views;
  m.ids = ids;
  m.input = SwiGluInput(u, weights, limit);
  RunTiledMatVec(m, kind, set.cols, static_cast<cudaStream_t>(stream.handle()));
}

void MatVecOnSwiGlu(const DeviceWeight& w, float* g, const float* u, float limit, float* y,
                    bool round_bf16, CudaStream& stream) {
  CheckFp8Blocks(w.cols, "MatVecOnSwiGlu");
  if (!StagesInput(w) || !FusedStepsOn()) {
    SwiGluQuant(g, u, 1, w.cols, nullptr, limit, g, stream);
    MatVec(w, g, 1, w.cols, y, w.rows, round_bf16, stream);
    return;
  }
  RunStagedRow(w, g, y, round_bf16, SwiGluInput(u, nullptr, limit), stream);
}

ExpertGroups ExpertGroups::Create(int64_t max_slots) {
  if (max_slots < 1 || max_slots > kMaxGroupedSlots) {
    throw CudaError("ExpertGroups: " + std::to_string(max_slots) + " slots (1 to " +
                    std::to_string(kMaxGroupedSlots) + ")");
  }
  ExpertGroups g;
  g.max_slots = max_slots;
  g.order = DeviceBuffer(static_cast<size_t>(max_slots) * sizeof(int32_t));
  g.pieces = DeviceBuffer(static_cast<size_t>(max_slots) * sizeof(ExpertPiece));
  g.count = DeviceBuffer(sizeof(int32_t));
  return g;
}

void GroupExpertSlots(const int32_t* ids, int64_t slots, ExpertGroups& groups, CudaStream& stream) {
  if (slots > groups.max_slots) {
    throw CudaError("GroupExpertSlots: " + std::to_string(slots) + " slots, room for " +
                    std::to_string(groups.max_slots));
  }
  RunGroupSlots(ids, slots, groups.order.as<int32_t>(), groups.pieces.as<ExpertPiece>(),
                groups.count.as<int32_t>(), static_cast<cudaStream_t>(stream.handle()));
}

namespace {

// ExpertGemmMatVec's and ExpertTensorMatVec's launch arguments.
ExpertRowsArgs ExpertArgs(const ExpertSetViews& set, const ExpertGroups& groups, int64_t slots,
                          const float* x, int64_t x_stride, float* y, int64_t y_stride,
                          bool round_bf16) {
  ExpertRowsArgs a;
  a.views = set.views;
  a.pieces = groups.pieces.as<const ExpertPiece>();
  a.n_pieces = groups.count.as<const int32_t>();
  a.order = groups.order.as<const int32_t>();
  a.slots = slots;
  a.rows = set.rows;
  a.x = x;
  a.x_stride = x_stride;
  a.y = y;
  a.y_stride = y_stride;
  a.round_bf16 = round_bf16;
  return a;
}

}  // namespace

void ExpertGemmMatVec(const ExpertSetViews& set, const ExpertGroups& groups, const int32_t* ids,
                      int64_t slots, const float* x, int64_t x_stride, float* y, int64_t y_stride,
                      bool round_bf16, CudaStream& stream) {
  if (set.rows <= 0 || slots <= 0) return;
  const WeightKind kind = KindOf(set.format);
  if (set.exact || !TiledMatVecGemmTakes(kind, set.cols, set.rows) || slots > groups.max_slots) {
    ExpertMatVec(set, ids, slots, x, x_stride, y, y_stride, round_bf16, stream);
    return;
  }
  RunTiledExpertGemm(ExpertArgs(set, groups, slots, x, x_stride, y, y_stride, round_bf16), kind,
                     static_cast<cudaStream_t>(stream.handle()));
}

void ExpertTensorMatVec(const ExpertSetViews& set, const ExpertGroups& groups, const int32_t* ids,
                        int64_t slots, const float* x, int64_t x_stride, float* y, int64_t y_stride,
                        bool round_bf16, CudaStream& stream) {
  if (set.rows <= 0 || slots <= 0) return;
  const WeightKind kind = KindOf(set.format);
  if (set.exact || !TensorExpertTakes(kind, set.cols, set.rows) || slots > groups.max_slots) {
    ExpertGemmMatVec(set, groups, ids, slots, x, x_stride, y, y_stride, round_bf16, stream);
    return;
  }
  RunTensorExpertMatVec(ExpertArgs(set, groups, slots, x, x_stride, y, y_stride, round_bf16), kind,
                        static_cast<cudaStream_t>(stream.handle()));
}

void ExpertGemmMatVec(const DeviceWeightSet& set, const ExpertGroups& groups, const int32_t* ids,
                      int64_t slots, const float* x, int64_t x_stride, float* y, int64_t y_stride,
                      bool round_bf16, CudaStream& stream) {
  ExpertGemmMatVec(Views(set), groups, ids, slots, x, x_stride, y, y_stride, round_bf16, stream);
}

bool ExpertGemmPairTakes(const ExpertSetViews& first, const ExpertSetViews& second,
                         const ExpertGroups& groups, int64_t slots) {
  return first.format == second.format && first.rows == second.rows && first.cols == second.cols &&
         !first.exact && !second.exact && slots > 0 && slots <= groups.max_slots &&
         TiledMatVecGemmTakes(KindOf(first.format), first.cols, first.rows);
}

int64_t PairSwiGluArrivalsBytes(int64_t max_slots, int64_t rows) {
  return BlockArrivalsBytes(max_slots, rows);
}

bool ExpertGemmMatVecPair(const ExpertSetViews& first, const ExpertSetViews& second,
                          const ExpertGroups& groups, int64_t slots, const float* x,
                          int64_t x_stride, int64_t x_row_slots, float* y_first, float* y_second,
                          int64_t y_stride, bool round_bf16, bool tensor, CudaStream& stream,
                          const PairSwiGlu* swiglu) {
  if (!ExpertGemmPairTakes(first, second, groups, slots) || x_row_slots < 1) {
    throw CudaError("ExpertGemmMatVecPair: the register-tiled kernel does not take these sets (" +
                    std::to_string(slots) + " slots, " + std::to_string(x_row_slots) +
                    " a row of x)");
  }
  if (first.rows <= 0) return false;
  ExpertRowsArgs a = ExpertArgs(first, groups, slots, x, x_stride, y_first, y_stride, round_bf16);
  a.x_row_slots = x_row_slots;
  a.views_second = second.views;
  a.y_second = y_second;
  const WeightKind kind = KindOf(first.format);
  const auto raw = static_cast<cudaStream_t>(stream.handle());
  if (tensor && TensorExpertTakes(kind, first.cols, first.rows)) {
    RunTensorExpertMatVec(a, kind, raw);
    return false;
  }
  const bool with_swiglu =
      swiglu != nullptr && swiglu->arrivals != nullptr && first.rows % 128 == 0 && FusedStepsOn();
  if (with_swiglu) {
    a.swiglu_arrivals = swiglu->arrivals;
    a.swiglu_weights = swiglu->weights;
    a.swiglu_limit = swiglu->limit;
  }
  RunTiledExpertGemm(a, kind, raw);
  return with_swiglu;
}

void EmbedToStreams(const DeviceWeight& embed, const int32_t* token, int64_t hc, float* h,
                    CudaStream& stream) {
  EmbedRowsToStreams(embed, token, 1, hc, h, stream);
}

void EmbedRowsToStreams(const DeviceWeight& embed, const int32_t* tokens, int64_t rows, int64_t hc,
                        float* h, CudaStream& stream) {
  if (embed.cols <= 0 || hc <= 0 || rows <= 0) return;
  if (rows > 65535) throw CudaError("EmbedRowsToStreams: " + std::to_string(rows) + " rows");
  const dim3 grid(static_cast<unsigned>((embed.cols + 255) / 256), static_cast<unsigned>(rows));
  LaunchKernel(EmbedKernel, "EmbedKernel", grid, 256, 0, static_cast<cudaStream_t>(stream.handle()),
               ViewOf(embed), tokens, hc, h);
  CheckCuda(cudaGetLastError(), "EmbedToStreams launch");
}

}  // namespace dsagent::engine::kernels::cuda
