#include "engine/kernels/cuda/async_copy.cuh"
#include "engine/kernels/cuda/warp_butterfly.cuh"
#include "tests/cuda_emulator/emulator_kernels.h"

namespace dsagent_emu_test {
namespace {

__global__ void BlockSumKernel(const float* in, float* out) {
  __shared__ float partial[1024];
  const unsigned t = threadIdx.x;
  partial[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) partial[t] += partial[t + half];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

__global__ void WarpSumKernel(const float* in, float* out) {
  float v = in[threadIdx.x];
  for (int m = 16; m > 0; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);
  out[threadIdx.x] = v;
}

__global__ void BroadcastKernel(const int* in, int* out, int src, int width) {
  out[threadIdx.x] = __shfl_sync(0xffffffffu, in[threadIdx.x], src, width);
}

// An inclusive prefix sum of the warp's values by __shfl_up_sync, then the ballot of odd sums
// and its lowest lane.
__global__ void ScanBallotKernel(const int* in, int* scan, unsigned* ballot, int* first) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  int v = in[threadIdx.x];
  for (int offset = 1; offset < 32; offset *= 2) {
    const int up = __shfl_up_sync(0xffffffffu, v, offset);
    if (lane >= offset) v += up;
  }
  scan[threadIdx.x] = v;
  const unsigned bits = __ballot_sync(0xffffffffu, v % 2 != 0);
  ballot[threadIdx.x] = bits;
  first[threadIdx.x] = __ffs(static_cast<int>(bits));
}

// Each thread starts a 16-byte copy into dynamic shared memory, reads it before and after its
// wait.
__global__ void AsyncCopyKernel(const uint4* src, uint4* before, uint4* after) {
  extern __shared__ uint4 staged[];
  dsagent::engine::kernels::cuda::CopyAsync16(&staged[threadIdx.x], &src[threadIdx.x]);
  before[threadIdx.x] = staged[threadIdx.x];
  dsagent::engine::kernels::cuda::CopyAsyncWaitAll();
  after[threadIdx.x] = staged[threadIdx.x];
}

namespace cuda = dsagent::engine::kernels::cuda;

// A step whose result changes with its operands' order and with every value that went in.
struct Skewed {
  __device__ double operator()(double mine, double other) const { return 3.0 * mine + other; }
};

template <int kWidth>
__global__ void ButterflyKernel(const double* in, double* by_gather, double* by_shuffles,
                                double* each_by_gather, double* each_by_shuffles, bool skewed) {
  const unsigned t = threadIdx.x;
  const double v = in[t];
  if (skewed) {
    by_gather[t] = cuda::XorButterflyByGather<kWidth>(v, Skewed{});
    by_shuffles[t] = cuda::XorButterflyByShuffles<kWidth>(v, Skewed{});
    return;
  }
  by_gather[t] = cuda::XorButterflyByGather<kWidth>(v, cuda::ShuffleSum{});
  by_shuffles[t] = cuda::XorButterflyByShuffles<kWidth>(v, cuda::ShuffleSum{});
  // Three sums at one gather: v, another thread's value, and their difference.
  const double w = in[(t * 5 + 3) % blockDim.x];
  double three[3] = {v, w, v - w};
  cuda::XorSumEach<kWidth>(three);
  for (int i = 0; i < 3; ++i) {
    each_by_gather[3 * t + i] = three[i];
    each_by_shuffles[3 * t + i] = cuda::XorButterflyByShuffles<kWidth>(i == 0   ? v
                                                                       : i == 1 ? w
                                                                                : v - w,
                                                                       cuda::ShuffleSum{});
  }
}

__global__ void GatherAfterExitKernel(double* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = cuda::XorSum<32>(1.0);
}

__global__ void ExitedLaneKernel(float* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void OutsideMaskKernel(int* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = __shfl_sync(0x0000ffffu, 7, 20);
}

__global__ void CountKernel(unsigned* count) { atomicAdd(count, 1u); }

__global__ void SyncAndKernel(int* out, int falsy) {
  out[threadIdx.x] = __syncthreads_and(static_cast<int>(threadIdx.x) != falsy);
}

__global__ void UnwrittenSharedKernel(unsigned* out) {
  extern __shared__ __align__(16) float scratch[];
  out[threadIdx.x] = __float_as_uint(scratch[threadIdx.x]);
}

__global__ void SyncWarpKernel(int* out, int seed) {
  __shared__ int v[32];
  const int lane = static_cast<int>(threadIdx.x);
  v[lane] = lane * 3 + seed;
  __syncwarp();
  out[lane] = v[(lane + 1) % 32];
}

__global__ void NeighbourWithoutABarrierKernel(int* out) {
  __shared__ int v[1024];
  const unsigned t = threadIdx.x;
  v[t] = static_cast<int>(t);
  out[t] = v[(t + 1) % blockDim.x];
}

__global__ void NeighbourAfterAShuffleKernel(int* out, int seed) {
  __shared__ int v[32];
  const int lane = static_cast<int>(threadIdx.x);
  v[lane] = lane * 3 + seed;
  (void)__shfl_sync(0xffffffffu, lane, 0);
  out[lane] = v[(lane + 1) % 32];
}

__global__ void EveryBlockStoresKernel(int* out) {
  if (threadIdx.x == 0) *out = static_cast<int>(blockIdx.x);
}

__global__ void ShiftedCopyKernel(const float* in, float* out) {
  out[threadIdx.x] = in[threadIdx.x + 1];
}

__global__ void ShiftedSharedKernel(float* out) {
  extern __shared__ __align__(16) float scratch[];
  scratch[threadIdx.x + 1] = static_cast<float>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = scratch[threadIdx.x + 1];
}

__global__ void VectorLoadKernel(const float* in, float4* out) {
  *out = *reinterpret_cast<const float4*>(in);
}

__global__ void LastBlockSumKernel(int* partial, unsigned* count, int* total, bool fenced) {
  __shared__ int last;
  if (threadIdx.x == 0) {
    partial[blockIdx.x] = static_cast<int>(blockIdx.x) + 1;
    if (fenced) __threadfence();
    last = atomicAdd(count, 1u) == gridDim.x - 1 ? 1 : 0;
  }
  __syncthreads();
  if (last != 0 && threadIdx.x == 0) {
    if (fenced) __threadfence();
    int sum = 0;
    for (unsigned b = 0; b < gridDim.x; ++b) sum += static_cast<volatile int*>(partial)[b];
    *total = sum;
    atomicExch(count, 0u);
  }
}

__global__ void IncrementKernel(int* value) { *value += 1; }

// The programmatic-launch kernels share one signature (Launch below): (out, in, out2, value).
__global__ void FillKernel(int* out, const int*, int*, int value) {
  cudaGridDependencySynchronize();
  out[blockIdx.x * blockDim.x + threadIdx.x] = value;
}

__global__ void ReadAroundKernel(int* before, const int* data, int* after, int) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const int seen = data[i];  // before the wait: what a kernel must not do with its inputs
  cudaGridDependencySynchronize();
  before[i] = seen;
  after[i] = data[i];
}

__global__ void NeverWaitKernel(int* out, const int*, int*, int value) { out[threadIdx.x] = value; }

__global__ void CopyOneKernel(const int* from, int* to) { *to = *from; }

}  // namespace

cudaError_t BlockSums(const float* in, float* out, int blocks, int threads) {
  BlockSumKernel<<<blocks, threads>>>(in, out);
  return cudaGetLastError();
}

cudaError_t WarpSums(const float* in, float* out, int threads) {
  WarpSumKernel<<<1, threads>>>(in, out);
  return cudaGetLastError();
}

cudaError_t Broadcast(const int* in, int* out, int threads, int src, int width) {
  BroadcastKernel<<<1, threads>>>(in, out, src, width);
  return cudaGetLastError();
}

cudaError_t ScanAndBallot(const int* in, int* scan, unsigned* ballot, int* first, int threads) {
  ScanBallotKernel<<<1, threads>>>(in, scan, ballot, first);
  return cudaGetLastError();
}

cudaError_t AsyncCopies(const uint4* src, uint4* before, uint4* after, int threads) {
  AsyncCopyKernel<<<1, threads, threads * sizeof(uint4)>>>(src, before, after);
  return cudaGetLastError();
}

cudaError_t Butterflies(const double* in, double* by_gather, double* by_shuffles,
                        double* each_by_gather, double* each_by_shuffles, int threads, int width,
                        bool skewed) {
  switch (width) {
    case 2:
      ButterflyKernel<2>
          <<<1, threads>>>(in, by_gather, by_shuffles, each_by_gather, each_by_shuffles, skewed);
      break;
    case 4:
      ButterflyKernel<4>
          <<<1, threads>>>(in, by_gather, by_shuffles, each_by_gather, each_by_shuffles, skewed);
      break;
    case 8:
      ButterflyKernel<8>
          <<<1, threads>>>(in, by_gather, by_shuffles, each_by_gather, each_by_shuffles, skewed);
      break;
    case 16:
      ButterflyKernel<16>
          <<<1, threads>>>(in, by_gather, by_shuffles, each_by_gather, each_by_shuffles, skewed);
      break;
    case 32:
      ButterflyKernel<32>
          <<<1, threads>>>(in, by_gather, by_shuffles, each_by_gather, each_by_shuffles, skewed);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t GatherAfterALaneExited(double* out) {
  GatherAfterExitKernel<<<1, 32>>>(out);
  return cudaGetLastError();
}

cudaError_t GatherOverLanesTheBlockLacks(double* out) {
  GatherAfterExitKernel<<<1, 16>>>(out);  // lane 3 exits; the rest read lanes 16..31
  return cudaGetLastError();
}

cudaError_t ShuffleAfterALaneExited(float* out) {
  ExitedLaneKernel<<<1, 32>>>(out);
  return cudaGetLastError();
}

cudaError_t ShuffleReadingALaneOutsideItsMask(int* out) {
  OutsideMaskKernel<<<1, 32>>>(out);
  return cudaGetLastError();
}

cudaError_t CountThreads(unsigned* count, int blocks, int threads) {
  CountKernel<<<blocks, threads>>>(count);
  return cudaGetLastError();
}

cudaError_t SyncAnd(int* out, int threads, int falsy) {
  SyncAndKernel<<<1, threads>>>(out, falsy);
  return cudaGetLastError();
}

cudaError_t UnwrittenShared(unsigned* out, int threads, size_t shared_bytes) {
  UnwrittenSharedKernel<<<1, threads, shared_bytes>>>(out);
  return cudaGetLastError();
}

cudaError_t AllowShared(int bytes) {
  return cudaFuncSetAttribute(UnwrittenSharedKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              bytes);
}

cudaError_t SyncWarpNeighbours(int* out, int seed) {
  SyncWarpKernel<<<1, 32>>>(out, seed);
  return cudaGetLastError();
}

cudaError_t NeighbourWithoutABarrier(int* out, int threads) {
  NeighbourWithoutABarrierKernel<<<1, threads>>>(out);
  return cudaGetLastError();
}

cudaError_t NeighbourAfterAShuffle(int* out, int seed) {
  NeighbourAfterAShuffleKernel<<<1, 32>>>(out, seed);
  return cudaGetLastError();
}

cudaError_t EveryBlockStoresOneWord(int* out, int blocks) {
  EveryBlockStoresKernel<<<blocks, 32>>>(out);
  return cudaGetLastError();
}

cudaError_t ShiftedCopy(const float* in, float* out, int threads) {
  ShiftedCopyKernel<<<1, threads>>>(in, out);
  return cudaGetLastError();
}

cudaError_t ShiftedSharedCopy(float* out, int threads, int shared_floats) {
  ShiftedSharedKernel<<<1, threads, shared_floats * sizeof(float)>>>(out);
  return cudaGetLastError();
}

cudaError_t VectorLoad(const float* in, float4* out) {
  VectorLoadKernel<<<1, 1>>>(in, out);
  return cudaGetLastError();
}

cudaError_t LastBlockSums(int* partial, unsigned* count, int* total, int blocks, bool fenced) {
  LastBlockSumKernel<<<blocks, 64>>>(partial, count, total, fenced);
  return cudaGetLastError();
}

cudaError_t Launch(void (*kernel)(int*, const int*, int*, int), int blocks, int threads,
                   cudaStream_t stream, bool programmatic, int* a, const int* b, int* c, int v) {
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  // Positional (the kernel-side gridDim and blockDim macros would rename the fields).
  cudaLaunchConfig_t config = {dim3(static_cast<unsigned>(blocks)),
                               dim3(static_cast<unsigned>(threads)),
                               0,
                               stream,
                               attribute,
                               programmatic ? 1u : 0u};
  return cudaLaunchKernelEx(&config, kernel, a, b, c, v);
}

cudaError_t FillAfterTheWait(int* out, int value, int blocks, int threads, cudaStream_t stream,
                             bool programmatic) {
  return Launch(FillKernel, blocks, threads, stream, programmatic, out, nullptr, nullptr, value);
}

cudaError_t ReadAroundTheWait(const int* data, int* before, int* after, int blocks, int threads,
                              cudaStream_t stream, bool programmatic) {
  return Launch(ReadAroundKernel, blocks, threads, stream, programmatic, before, data, after, 0);
}

cudaError_t NeverWait(int* out, int threads, cudaStream_t stream) {
  return Launch(NeverWaitKernel, 1, threads, stream, true, out, nullptr, nullptr, 1);
}

cudaError_t CopyOne(const int* from, int* to, cudaStream_t stream) {
  CopyOneKernel<<<1, 1, 0, stream>>>(from, to);
  return cudaGetLastError();
}

cudaError_t Increment(int* value, cudaStream_t stream) {
  IncrementKernel<<<1, 1, 0, stream>>>(value);
  return cudaGetLastError();
}

}  // namespace dsagent_emu_test
