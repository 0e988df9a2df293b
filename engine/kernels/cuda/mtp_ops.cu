// AddToStreamsBf16 (mtp_step.h): the MTP block's embedding projection added to every stream.
#include <cuda_runtime.h>

#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/mtp_math.h"
#include "engine/kernels/cuda/mtp_step.h"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void AddToStreamsKernel(const float* e, int64_t n, int64_t dim, float* h) {
  AwaitPreviousKernel();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) h[i] = AddRoundBf16(e[i % dim], h[i]);
}

}  // namespace

void AddToStreamsBf16(const float* e, int64_t streams, int64_t dim, float* h, CudaStream& stream) {
  const int64_t n = streams * dim;
  if (n <= 0) return;
  LaunchKernel(AddToStreamsKernel, "AddToStreamsKernel",
               static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0,
               static_cast<cudaStream_t>(stream.handle()), e, n, dim, h);
  CheckCuda(cudaGetLastError(), "AddToStreamsBf16 launch");
}

}  // namespace dsagent::engine::kernels::cuda
