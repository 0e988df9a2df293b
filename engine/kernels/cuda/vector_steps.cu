// RunVectorSteps (vector_steps.h), and HeadRmsNorm / HadamardRotate (attention_ops.h) as its
// one-step cases.
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/vector_steps.h"
#include "engine/kernels/cuda/vector_steps_cta.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxHadamard = 4096;  // its doubles fill 32 KB of shared memory

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

// One CTA per vector; the steps' switches are uniform over the grid, so every thread meets the
// same barriers. Dynamic shared memory: n doubles when the Hadamard step runs.
__global__ void __launch_bounds__(kThreads) VectorStepsKernel(float* x, int64_t n, VectorSteps s) {
  static_assert(kThreads == kVectorStepsNormThreads, "the head norm needs a CTA of its threads");
  AwaitPreviousKernel();
  __shared__ double part[kThreads];
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t v = blockIdx.x;
  VectorStepsCta(x + v * n, n, s, v, part, reinterpret_cast<double*>(smem));
}

void Check(bool ok, const std::string& what) {
  if (!ok) throw CudaError("RunVectorSteps: " + what);
}

}  // namespace

void CheckVectorSteps(int64_t n, const VectorSteps& s) {
  Check(!(s.norm_weight != nullptr && s.head_norm), "a weighted and a head norm at once");
  Check(s.rope_dims >= 0 && s.rope_dims % 2 == 0 && s.rope_dims <= n &&
            (s.rope_dims == 0 || s.freqs != nullptr) && s.vectors_per_position > 0,
        "RoPE on " + std::to_string(s.rope_dims) + " of " + std::to_string(n) +
            " values (an even count, with frequencies)");
  Check(!s.hadamard || (n >= 2 && n <= kMaxHadamard && (n & (n - 1)) == 0),
        "the Hadamard rotation needs a power of two from 2 to 4096, not " + std::to_string(n));
  Check(s.quant_n == 0 || ((s.quant_block == 32 || s.quant_block == 64 || s.quant_block == 128) &&
                           s.quant_n > 0 && s.quant_n <= n && s.quant_n % s.quant_block == 0),
        "act_quant of " + std::to_string(s.quant_n) + " of " + std::to_string(n) +
            " values in blocks of " + std::to_string(s.quant_block) + " (32, 64 or 128)");
  Check(s.bf16_rows == nullptr || (s.bf16_out == nullptr && s.positions != nullptr &&
                                   s.vectors_per_position == 1 && s.bf16_ring > 0),
        "a store into each vector's ring needs its position and the ring's rows (and no other "
        "store)");
}

void RunVectorSteps(float* x, int64_t count, int64_t n, const VectorSteps& s, CudaStream& stream) {
  CheckVectorSteps(n, s);
  if (count <= 0 || n <= 0) return;
  const size_t shared = s.hadamard ? static_cast<size_t>(n) * sizeof(double) : 0;
  LaunchKernel(VectorStepsKernel, "VectorStepsKernel", static_cast<unsigned>(count), kThreads,
               shared, Raw(stream), x, n, s);
  CheckCuda(cudaGetLastError(), "RunVectorSteps launch");
}

VectorSteps AttentionQuerySteps(int64_t heads, float eps, int64_t rope_dims, const float* freqs,
                                int64_t pos, const int32_t* positions) {
  VectorSteps v;
  v.head_norm = true;
  v.eps = eps;
  v.rope_dims = rope_dims;
  v.freqs = freqs;
  v.pos = pos;
  v.positions = positions;
  v.vectors_per_position = heads;
  return v;
}

VectorSteps CacheEntrySteps(int64_t n, const float* norm_weight, float eps, int64_t rope_dims,
                            const float* freqs, int64_t pos, const int32_t* positions, bool rotate,
                            uint16_t* out) {
  VectorSteps v;
  v.norm_weight = norm_weight;
  v.eps = eps;
  v.rope_dims = rope_dims;
  v.freqs = freqs;
  v.pos = pos;
  v.positions = positions;
  v.hadamard = rotate;
  v.quant_n = rotate ? n : n - rope_dims;
  v.quant_block = rotate ? 32 : 64;
  v.quant_format = rotate ? ActQuantFormat::kFp4 : ActQuantFormat::kFp8;
  v.bf16_out = out;
  return v;
}

void HeadRmsNorm(float* x, int64_t count, int64_t n, float eps, CudaStream& stream) {
  VectorSteps s;
  s.head_norm = true;
  s.eps = eps;
  RunVectorSteps(x, count, n, s, stream);
}

void HadamardRotate(float* x, int64_t count, int64_t n, CudaStream& stream) {
  if (n < 2 || n > kMaxHadamard || (n & (n - 1)) != 0) {
    throw CudaError(
        "HadamardRotate: the vector length must be a power of two from 2 to 4096, not " +
        std::to_string(n));
  }
  VectorSteps s;
  s.hadamard = true;
  RunVectorSteps(x, count, n, s, stream);
}

}  // namespace dsagent::engine::kernels::cuda
