// IndexerScores and TopK on the device (indexer_ops.h); the arithmetic is attention_math.h's,
// shared with the host tests. Simple first: a warp per entry, one block per top-k row, not tuned.
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/cuda/indexer_ops.h"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kScoreThreads = 256;         // 8 warps, one entry each at a time
constexpr int64_t kMaxScoreBlocks = 1024;  // grid-stride beyond: q is staged once per block
constexpr int kTopKThreads = 1024;
constexpr int64_t kMaxTopK = 4096;
constexpr int64_t kMaxSharedBytes = 48 * 1024;  // without the opt-in attribute

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

// q and the head weights in shared memory; each warp scores whole entries: per head, the lanes'
// double partial dots combined by shuffles (exact products, so the order does not matter), then
// lane 0 adds the head's term in head order (the CPU's order).
__global__ void IndexerScoresKernel(const float* q, const float* head_weights, int64_t heads,
                                    int64_t hd, const uint16_t* keys, int64_t n, float* score) {
  extern __shared__ __align__(16) unsigned char smem[];
  float* qs = reinterpret_cast<float*>(smem);  // [heads * hd]
  float* ws = qs + heads * hd;                 // [heads]
  for (int64_t i = threadIdx.x; i < heads * hd; i += blockDim.x) qs[i] = q[i];
  for (int64_t i = threadIdx.x; i < heads; i += blockDim.x) ws[i] = head_weights[i];
  __syncthreads();
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t warps = blockDim.x / 32;
  for (int64_t e = blockIdx.x * warps + threadIdx.x / 32; e < n; e += gridDim.x * warps) {
    const uint16_t* k = keys + e * hd;
    double sum = 0;
    for (int64_t h = 0; h < heads; ++h) {
      const float* qh = qs + h * hd;
      double dot = 0;
      for (int64_t d = lane; d < hd; d += 32) {
        dot += static_cast<double>(qh[d]) * static_cast<double>(Bf16ToFloat(k[d]));
      }
      for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(kFullWarp, dot, offset);
      sum += IndexerHeadTerm(dot, ws[h]);  // every lane holds the same dot and sum
    }
    if (lane == 0) score[e] = IndexerScore(sum);
  }
}

// One block per row. The keys (score, then the lower index) are distinct, so the k-th largest
// key T found by the radix passes selects exactly k keys (key >= T); they are gathered in any
// order and sorted by key, which is the stable sort's order.
__global__ void TopKKernel(const float* score, int64_t n, int64_t k, int64_t padded, int32_t* out) {
  extern __shared__ __align__(16) unsigned char smem[];
  uint64_t* sel = reinterpret_cast<uint64_t*>(smem);  // [padded]
  __shared__ uint32_t histogram[256];
  __shared__ uint64_t prefix, mask;
  __shared__ uint32_t rank;
  __shared__ unsigned count;
  const float* s = score + static_cast<int64_t>(blockIdx.x) * n;
  if (threadIdx.x == 0) {
    prefix = 0;
    mask = 0;
    rank = static_cast<uint32_t>(k);
    count = 0;
  }
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const uint64_t key = TopKKey(s[i], static_cast<uint32_t>(i));
      if ((key & mask) == prefix) atomicAdd(&histogram[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      uint32_t r = rank;
      const int bucket = RadixSelectBucket(histogram, r);
      rank = r;
      prefix |= static_cast<uint64_t>(bucket) << shift;
      mask |= static_cast<uint64_t>(255) << shift;
    }
    __syncthreads();
  }
  // Padding keys are 0, below every real key (the index half of a real key is never all ones).
  for (int64_t i = threadIdx.x; i < padded; i += blockDim.x) sel[i] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const uint64_t key = TopKKey(s[i], static_cast<uint32_t>(i));
    if (key >= prefix) sel[atomicAdd(&count, 1u)] = key;
  }
  __syncthreads();
  // Bitonic sort, descending.
  for (int64_t size = 2; size <= padded; size *= 2) {
    for (int64_t stride = size / 2; stride > 0; stride /= 2) {
      for (int64_t i = threadIdx.x; i < padded; i += blockDim.x) {
        const int64_t j = i ^ stride;
        if (j > i) {
          const uint64_t a = sel[i], b = sel[j];
          const bool descending = (i & size) == 0;
          if (descending ? a < b : a > b) {
            sel[i] = b;
            sel[j] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
    out[static_cast<int64_t>(blockIdx.x) * k + i] = TopKKeyIndex(sel[i]);
  }
}

}  // namespace

void IndexerScores(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                   const uint16_t* keys, int64_t n, float* score, CudaStream& stream) {
  const int64_t shared = (heads * hd + heads) * static_cast<int64_t>(sizeof(float));
  if (heads <= 0 || hd <= 0 || shared > kMaxSharedBytes) {
    throw CudaError("IndexerScores: " + std::to_string(heads) + " heads of " + std::to_string(hd) +
                    " values do not fit the kernel's shared memory (48 KiB)");
  }
  if (n <= 0) return;
  const int64_t warps = kScoreThreads / 32;
  const int64_t blocks =
      (n + warps - 1) / warps < kMaxScoreBlocks ? (n + warps - 1) / warps : kMaxScoreBlocks;
  IndexerScoresKernel<<<static_cast<unsigned>(blocks), kScoreThreads, static_cast<size_t>(shared),
                        Raw(stream)>>>(q, head_weights, heads, hd, keys, n, score);
  CheckCuda(cudaGetLastError(), "IndexerScores launch");
}

void TopK(const float* score, int64_t rows, int64_t n, int64_t k, int32_t* out,
          CudaStream& stream) {
  if (k > kMaxTopK) {
    throw CudaError("TopK: k " + std::to_string(k) + " is above the kernel's " +
                    std::to_string(kMaxTopK));
  }
  if (n >= (int64_t{1} << 32) - 1)
    throw CudaError("TopK: " + std::to_string(n) + " scores per row");
  const int64_t kept = k < n ? k : n;
  if (rows <= 0 || kept <= 0) return;
  int64_t padded = 1;
  while (padded < kept) padded *= 2;
  TopKKernel<<<static_cast<unsigned>(rows), kTopKThreads,
               static_cast<size_t>(padded) * sizeof(uint64_t), Raw(stream)>>>(score, n, kept,
                                                                              padded, out);
  CheckCuda(cudaGetLastError(), "TopK launch");
}

}  // namespace dsagent::engine::kernels::cuda
