// ActQuant, RmsNorm, RopeRotate(Rows), SwiGlu(Quant), StoreBf16Bits, RepeatRows and ScatterRows on
// the device (ops.h); the per-element arithmetic is device_math.h's, shared with the host tests.
#include <cuda_runtime.h>

#include "engine/kernels/cuda/act_quant_cta.cuh"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/rms_norm_cta.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;
static_assert(kThreads == kRmsNormThreads, "RmsNormKernel gives the norm's bits");

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// One CUDA block per quantisation block: amax by a max-reduction (exact in any order), then each
// value rounded with the block's power-of-two scale.
// Block `blockIdx.x` of x quantised into the same place of y (y may be x: each value is read
// before the same thread writes it).
__global__ void ActQuantKernel(const float* x, float* y, int64_t block, int64_t blocks_per_row,
                               int64_t stride, bool fp4) {
  AwaitPreviousKernel();
  __shared__ float amax_part[kThreads];
  const int64_t id = static_cast<int64_t>(blockIdx.x);
  const int64_t offset = (id / blocks_per_row) * stride + (id % blocks_per_row) * block;
  const float* b = x + offset;
  float* out = y + offset;
  float amax = 0.0f;
  for (int64_t i = threadIdx.x; i < block; i += blockDim.x) amax = fmaxf(amax, fabsf(b[i]));
  amax_part[threadIdx.x] = amax;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) {
      amax_part[threadIdx.x] = fmaxf(amax_part[threadIdx.x], amax_part[threadIdx.x + s]);
    }
    __syncthreads();
  }
  const float scale = fp4 ? Fp4BlockScale(amax_part[0]) : Fp8BlockScale(amax_part[0]);
  for (int64_t i = threadIdx.x; i < block; i += blockDim.x) {
    out[i] = fp4 ? QuantizeE2M1(b[i], scale) : QuantizeE4M3(b[i], scale);
  }
}

// One CUDA block per row (rms_norm_cta.cuh); with y_fp8, then the row's FP8 act_quant
// (act_quant_cta.cuh).
__global__ void RmsNormKernel(const float* x, int64_t n, const float* w, float eps, float* y,
                              float* y_fp8) {
  AwaitPreviousKernel();
  __shared__ double part[kThreads];
  const int64_t row = blockIdx.x;
  RmsNormRowCta<kThreads>(x + row * n, n, w, eps, y + row * n, part);
  if (y_fp8 == nullptr) return;  // uniform over the grid
  __syncthreads();               // the normed row written before its blocks are quantised
  ActQuantFp8RowCta(y + row * n, n, y_fp8 + row * n);
}

__global__ void RopeKernel(float* x, int64_t count, int64_t stride, int64_t offset, int64_t half,
                           const float* freqs, int64_t pos, bool inverse) {
  AwaitPreviousKernel();
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= count * half) return;
  const int64_t v = k / half, i = k % half;
  float* r = x + v * stride + offset;
  const float angle = static_cast<float>(pos) * freqs[i];
  RopePair(r[2 * i], r[2 * i + 1], angle, inverse);
}

// RopeKernel with the position per row: vector v belongs to row v / per_row.
__global__ void RopeRowsKernel(float* x, int64_t count, int64_t per_row, int64_t stride,
                               int64_t offset, int64_t half, const float* freqs,
                               const int32_t* positions, bool inverse) {
  AwaitPreviousKernel();
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= count * half) return;
  const int64_t v = k / half, i = k % half;
  float* r = x + v * stride + offset;
  const float angle = static_cast<float>(static_cast<int64_t>(positions[v / per_row])) * freqs[i];
  RopePair(r[2 * i], r[2 * i + 1], angle, inverse);
}

__global__ void RepeatRowsKernel(const float* x, int64_t rows, int64_t n, int64_t times,
                                 float* out) {
  AwaitPreviousKernel();
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= rows * times * n) return;
  out[k] = x[(k / n / times) * n + k % n];
}

__global__ void ScatterRowsKernel(const float* src, const int32_t* index, int64_t n, int64_t width,
                                  float* dst) {
  AwaitPreviousKernel();
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n * width) return;
  dst[static_cast<int64_t>(index[k / width]) * width + k % width] = src[k];
}

__global__ void SwiGluKernel(const float* g, const float* u, int64_t rows, int64_t inter,
                             const float* row_weight, float limit, float* out) {
  AwaitPreviousKernel();
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= rows * inter) return;
  const bool has_weight = row_weight != nullptr;
  out[k] = SwiGluValue(g[k], u[k], limit, has_weight, has_weight ? row_weight[k / inter] : 1.0f);
}

// One CUDA block per FP8 block of 128 SwiGLU outputs (inter % 128 == 0, so within one row): each
// value as SwiGluKernel computes it, then the block quantised as ActQuantKernel quantises it (the
// same amax: a thread's max starts at 0 there too).
__global__ void SwiGluQuantKernel(const float* g, const float* u, int64_t inter,
                                  const float* row_weight, float limit, float* out) {
  AwaitPreviousKernel();
  constexpr int kBlock = 128;
  __shared__ float amax_part[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  const int64_t k = static_cast<int64_t>(blockIdx.x) * kBlock + t;
  const bool has_weight = row_weight != nullptr;
  float v = 0.0f;
  if (t < kBlock) {
    v = SwiGluValue(g[k], u[k], limit, has_weight, has_weight ? row_weight[k / inter] : 1.0f);
  }
  amax_part[t] = t < kBlock ? fmaxf(0.0f, fabsf(v)) : 0.0f;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (t < s) amax_part[t] = fmaxf(amax_part[t], amax_part[t + s]);
    __syncthreads();
  }
  if (t < kBlock) out[k] = QuantizeE4M3(v, Fp8BlockScale(amax_part[0]));
}

__global__ void StoreBf16BitsKernel(const float* x, int64_t n, uint16_t* out) {
  AwaitPreviousKernel();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = FloatToBf16Bits(x[i]);
}

}  // namespace

void ActQuant(float* x, int64_t rows, int64_t n, int64_t block, ActQuantFormat format,
              CudaStream& stream) {
  ActQuantRows(x, rows, n, n, block, format, stream);
}

void ActQuantRows(float* x, int64_t rows, int64_t n, int64_t stride, int64_t block,
                  ActQuantFormat format, CudaStream& stream) {
  if (block <= 0 || n % block != 0 || stride < n) {
    throw CudaError("ActQuant: " + std::to_string(n) + " values do not split into blocks of " +
                    std::to_string(block) + " (or a row stride " + std::to_string(stride) +
                    " below them)");
  }
  if (rows <= 0 || n <= 0) return;
  LaunchKernel(ActQuantKernel, "ActQuantKernel", static_cast<unsigned>(rows * n / block), kThreads,
               0, Raw(stream), x, x, block, n / block, stride, format == ActQuantFormat::kFp4);
  CheckCuda(cudaGetLastError(), "ActQuant launch");
}

void ActQuantTo(const float* x, float* y, int64_t rows, int64_t n, int64_t block,
                ActQuantFormat format, CudaStream& stream) {
  if (block <= 0 || n % block != 0) {
    throw CudaError("ActQuant: " + std::to_string(n) + " values do not split into blocks of " +
                    std::to_string(block));
  }
  if (rows <= 0 || n <= 0) return;
  LaunchKernel(ActQuantKernel, "ActQuantKernel", static_cast<unsigned>(rows * n / block), kThreads,
               0, Raw(stream), x, y, block, n / block, n, format == ActQuantFormat::kFp4);
  CheckCuda(cudaGetLastError(), "ActQuant launch");
}

void RmsNorm(const float* x, int64_t rows, int64_t n, const float* w, float eps, float* y,
             CudaStream& stream) {
  if (rows <= 0 || n <= 0) return;
  LaunchKernel(RmsNormKernel, "RmsNormKernel", static_cast<unsigned>(rows), kThreads, 0,
               Raw(stream), x, n, w, eps, y, static_cast<float*>(nullptr));
  CheckCuda(cudaGetLastError(), "RmsNorm launch");
}

void RmsNormQuant(const float* x, int64_t rows, int64_t n, const float* w, float eps, float* y,
                  float* y_fp8, CudaStream& stream) {
  if (n % 128 != 0) {
    throw CudaError("RmsNormQuant: FP8 blocks of 128 need n a multiple of 128, not " +
                    std::to_string(n));
  }
  if (rows <= 0 || n <= 0) return;
  LaunchKernel(RmsNormKernel, "RmsNormKernel", static_cast<unsigned>(rows), kThreads, 0,
               Raw(stream), x, n, w, eps, y, y_fp8);
  CheckCuda(cudaGetLastError(), "RmsNormQuant launch");
}

void RopeRotate(float* x, int64_t count, int64_t stride, int64_t width, int64_t rope_dims,
                const float* freqs, int64_t pos, bool inverse, CudaStream& stream) {
  const int64_t half = rope_dims / 2;
  if (count <= 0 || half <= 0) return;
  LaunchKernel(RopeKernel, "RopeKernel", Blocks(count * half), kThreads, 0, Raw(stream), x, count,
               stride, width - rope_dims, half, freqs, pos, inverse);
  CheckCuda(cudaGetLastError(), "RopeRotate launch");
}

void RopeRotateRows(float* x, int64_t rows, int64_t per_row, int64_t stride, int64_t width,
                    int64_t rope_dims, const float* freqs, const int32_t* positions, bool inverse,
                    CudaStream& stream) {
  const int64_t half = rope_dims / 2, count = rows * per_row;
  if (count <= 0 || half <= 0) return;
  LaunchKernel(RopeRowsKernel, "RopeRowsKernel", Blocks(count * half), kThreads, 0, Raw(stream), x,
               count, per_row, stride, width - rope_dims, half, freqs, positions, inverse);
  CheckCuda(cudaGetLastError(), "RopeRotateRows launch");
}

void RepeatRows(const float* x, int64_t rows, int64_t n, int64_t times, float* out,
                CudaStream& stream) {
  if (rows <= 0 || n <= 0 || times <= 0) return;
  LaunchKernel(RepeatRowsKernel, "RepeatRowsKernel", Blocks(rows * times * n), kThreads, 0,
               Raw(stream), x, rows, n, times, out);
  CheckCuda(cudaGetLastError(), "RepeatRows launch");
}

void ScatterRows(const float* src, const int32_t* index, int64_t n, int64_t width, float* dst,
                 CudaStream& stream) {
  if (n <= 0 || width <= 0) return;
  LaunchKernel(ScatterRowsKernel, "ScatterRowsKernel", Blocks(n * width), kThreads, 0, Raw(stream),
               src, index, n, width, dst);
  CheckCuda(cudaGetLastError(), "ScatterRows launch");
}

void SwiGlu(const float* g, const float* u, int64_t rows, int64_t inter, const float* row_weight,
            float limit, float* out, CudaStream& stream) {
  if (rows <= 0 || inter <= 0) return;
  LaunchKernel(SwiGluKernel, "SwiGluKernel", Blocks(rows * inter), kThreads, 0, Raw(stream), g, u,
               rows, inter, row_weight, limit, out);
  CheckCuda(cudaGetLastError(), "SwiGlu launch");
}

void SwiGluQuant(const float* g, const float* u, int64_t rows, int64_t inter,
                 const float* row_weight, float limit, float* out, CudaStream& stream) {
  if (inter % 128 != 0) {
    throw CudaError("SwiGluQuant: " + std::to_string(inter) +
                    " values a row do not split into FP8 blocks of 128");
  }
  if (rows <= 0 || inter <= 0) return;
  LaunchKernel(SwiGluQuantKernel, "SwiGluQuantKernel", static_cast<unsigned>(rows * inter / 128),
               kThreads, 0, Raw(stream), g, u, inter, row_weight, limit, out);
  CheckCuda(cudaGetLastError(), "SwiGluQuant launch");
}

void StoreBf16Bits(const float* x, int64_t n, uint16_t* out, CudaStream& stream) {
  if (n <= 0) return;
  LaunchKernel(StoreBf16BitsKernel, "StoreBf16BitsKernel", Blocks(n), kThreads, 0, Raw(stream), x,
               n, out);
  CheckCuda(cudaGetLastError(), "StoreBf16Bits launch");
}

}  // namespace dsagent::engine::kernels::cuda
