// HeadRmsNorm, HadamardRotate and SparseAttention on the device (attention_ops.h); the arithmetic
// is attention_math.h's, shared with the host tests. One block per vector or head, reductions in
// shared memory; the attention stages each index block's KV rows in shared memory (2026-12-04,
// after the first GPU run timed the earlier version at 1.9 GB/s; not yet run on a GPU).
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/cuda/attention_ops.h"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kFullWarp = 0xffffffffu;

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

// One block per vector: the sum of the bf16 squares in double (exact, so the tree's order does
// not matter), then every value times the bf16 factor.
__global__ void HeadRmsNormKernel(float* x, int64_t n, float eps) {
  __shared__ double part[kThreads];
  float* v = x + static_cast<int64_t>(blockIdx.x) * n;
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += HeadNormSquare(v[i]);
  part[threadIdx.x] = s;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) part[threadIdx.x] += part[threadIdx.x + stride];
    __syncthreads();
  }
  const float r = HeadNormFactor(part[0], n, eps);
  // Each thread rewrites only the values it read above.
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v[i] = RoundBf16(v[i] * r);
}

// One block per vector, the n values as doubles in shared memory; each stage's butterflies are
// disjoint pairs, run in parallel between barriers.
__global__ void HadamardKernel(float* x, int64_t n) {
  extern __shared__ __align__(16) unsigned char smem[];
  double* v = reinterpret_cast<double*>(smem);
  float* xv = x + static_cast<int64_t>(blockIdx.x) * n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v[i] = xv[i];
  __syncthreads();
  for (int64_t h = 1; h < n; h *= 2) {
    for (int64_t k = threadIdx.x; k < n / 2; k += blockDim.x) HadamardButterfly(v, h, k);
    __syncthreads();
  }
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) xv[i] = HadamardOut(v[i], n);
}

// One block per head. Per index block of 64: the block's ids and KV rows are staged in shared
// memory (16-byte loads of the bf16 rows, all in flight at once, instead of a dependent global
// load per row and dimension); each warp takes whole q.K dots (lanes over the dims, combined by
// shuffles in double: the products are exact and their sum is, so the order does not matter);
// warp 0 finds the block's max, every thread one entry's probability, thread 0 the state's
// update (the probabilities summed in order); then each thread accumulates P.V for its dims in
// index order (the CPU's order: the same bits).
// Grid: (heads, tokens). Token t's list is index[list_begin[t] .. list_begin[t+1]), or the one
// list index[0 .. n) when list_begin is null. Dynamic shared memory: q and acc (hd floats each),
// then kAttentionBlock rows of hd bf16. vec16: kv and hd allow 16-byte row loads.
__global__ void SparseAttentionKernel(const float* q, int64_t heads, int64_t hd, const uint16_t* kv,
                                      const int32_t* index, const int64_t* list_begin, int64_t n,
                                      const float* sink, float scale, float* o, bool vec16) {
  extern __shared__ __align__(16) unsigned char smem[];
  float* qs = reinterpret_cast<float*>(smem);  // [hd]
  float* acc = qs + hd;                        // [hd]
  uint16_t* rows = reinterpret_cast<uint16_t*>(acc + ((hd + 3) / 4) * 4);  // [64][hd], 16-aligned
  __shared__ float score[kAttentionBlock], prob[kAttentionBlock];
  __shared__ double pb[kAttentionBlock];
  __shared__ int32_t ids[kAttentionBlock];
  __shared__ OnlineSoftmax state;
  __shared__ float rescale, denom, block_max;
  const int64_t head = blockIdx.x, t = blockIdx.y;
  const float* qh = q + (t * heads + head) * hd;
  if (list_begin != nullptr) {
    index += list_begin[t];
    n = list_begin[t + 1] - list_begin[t];
  }
  const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  const int lane = tid & 31, warp = tid >> 5, warps = threads >> 5;
  for (int64_t d = tid; d < hd; d += threads) {
    qs[d] = qh[d];
    acc[d] = 0.0f;
  }
  if (tid == 0) state = NewOnlineSoftmax();
  for (int64_t b0 = 0; b0 < n; b0 += kAttentionBlock) {
    const int bn = static_cast<int>(n - b0 < kAttentionBlock ? n - b0 : kAttentionBlock);
    for (int j = tid; j < bn; j += threads) ids[j] = index[b0 + j];
    __syncthreads();  // ids, and (first block) qs, acc, state
    if (vec16) {
      const int64_t chunks = hd / 8;  // 16 bytes each
      for (int64_t c = tid; c < bn * chunks; c += threads) {
        const int j = static_cast<int>(c / chunks);
        const int32_t e = ids[j];
        if (e >= 0) {
          reinterpret_cast<uint4*>(rows)[c] =
              __ldg(reinterpret_cast<const uint4*>(kv + static_cast<int64_t>(e) * hd) + c % chunks);
        }
      }
    } else {
      for (int64_t c = tid; c < bn * hd; c += threads) {
        const int32_t e = ids[c / hd];
        if (e >= 0) rows[c] = kv[static_cast<int64_t>(e) * hd + c % hd];
      }
    }
    __syncthreads();
    for (int j = warp; j < bn; j += warps) {
      const int32_t e = ids[j];
      double dot = 0;
      if (e >= 0) {
        const uint16_t* k = rows + static_cast<int64_t>(j) * hd;
        for (int64_t d = lane; d < hd; d += 32) {
          dot += static_cast<double>(qs[d]) * static_cast<double>(Bf16ToFloat(k[d]));
        }
      }
      for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(kFullWarp, dot, offset);
      if (lane == 0) score[j] = e < 0 ? NegInfF() : AttentionScore(dot, scale);
    }
    __syncthreads();
    if (warp == 0) {
      float m = state.running_max;
      for (int j = lane; j < bn; j += 32) {
        if (RaisesMax(m, score[j])) m = score[j];
      }
      for (int offset = 16; offset > 0; offset /= 2) {
        const float other = __shfl_xor_sync(kFullWarp, m, offset);
        if (RaisesMax(m, other)) m = other;
      }
      if (lane == 0) block_max = m;
    }
    __syncthreads();
    const float bmax = block_max;
    if (bmax != NegInfF()) {  // uniform: nothing visible yet changes nothing
      for (int j = tid; j < bn; j += threads) {
        const float p = BlockProbability(score[j], bmax);
        prob[j] = p;
        pb[j] = ProbabilityForPv(p);
      }
      __syncthreads();
      if (tid == 0) rescale = SoftmaxStateStep(state, bmax, prob, bn);
      __syncthreads();
      const float rs = rescale;
      for (int64_t d = tid; d < hd; d += threads) {
        double pv = 0;
        for (int j = 0; j < bn; ++j) {
          if (pb[j] == 0.0) continue;
          pv += pb[j] * static_cast<double>(Bf16ToFloat(rows[static_cast<int64_t>(j) * hd + d]));
        }
        acc[d] = RescaledAccumulator(acc[d], rs, pv);
      }
    }
    __syncthreads();  // ids, rows, score and pb are rewritten by the next block
  }
  if (tid == 0) denom = SinkDenominator(state, sink[head]);
  __syncthreads();
  for (int64_t d = tid; d < hd; d += threads) o[(t * heads + head) * hd + d] = RoundBf16(acc[d] / denom);
}

// The attention kernel's dynamic shared memory (opted in above 48 KB): room for head dims up to
// 1024 (V4's are 512).
constexpr size_t kAttentionSharedBytesMax = 160 * 1024;
constexpr int64_t kAttentionMaxHeadDim = 1024;

}  // namespace

void HeadRmsNorm(float* x, int64_t count, int64_t n, float eps, CudaStream& stream) {
  if (count <= 0 || n <= 0) return;
  HeadRmsNormKernel<<<static_cast<unsigned>(count), kThreads, 0, Raw(stream)>>>(x, n, eps);
  CheckCuda(cudaGetLastError(), "HeadRmsNorm launch");
}

void HadamardRotate(float* x, int64_t count, int64_t n, CudaStream& stream) {
  if (n < 2 || n > 4096 || (n & (n - 1)) != 0) {
    throw CudaError(
        "HadamardRotate: the vector length must be a power of two from 2 to 4096, not " +
        std::to_string(n));
  }
  if (count <= 0) return;
  HadamardKernel<<<static_cast<unsigned>(count), kThreads, static_cast<size_t>(n) * sizeof(double),
                   Raw(stream)>>>(x, n);
  CheckCuda(cudaGetLastError(), "HadamardRotate launch");
}

namespace {
// q and acc, then the staged rows of one index block (SparseAttentionKernel).
size_t AttentionSharedBytes(int64_t head_dim) {
  return static_cast<size_t>(2 * ((head_dim + 3) / 4) * 4 * 4 + kAttentionBlock * head_dim * 2);
}

void LaunchSparseAttention(const float* q, int64_t tokens, int64_t heads, int64_t head_dim,
                           const uint16_t* kv, const int32_t* index, const int64_t* list_begin,
                           int64_t n, const float* sink, float scale, float* o,
                           CudaStream& stream) {
  if (head_dim <= 0 || AttentionSharedBytes(head_dim) > kAttentionSharedBytesMax) {
    throw CudaError("SparseAttention: head_dim " + std::to_string(head_dim) + " is outside 1 .. " +
                    std::to_string(kAttentionMaxHeadDim));
  }
  if (heads <= 0 || tokens <= 0) return;
  if (tokens > 65535) {
    throw CudaError("SparseAttention: " + std::to_string(tokens) +
                    " tokens in one call (at most 65535)");
  }
  // Above 48 KB of dynamic shared memory a kernel must opt in, once per device (a bit each).
  static std::atomic<uint64_t> raised{0};
  int device = 0;
  CheckCuda(cudaGetDevice(&device), "cudaGetDevice");
  const uint64_t bit = device >= 0 && device < 64 ? uint64_t{1} << device : 0;
  if (bit == 0 || (raised.load(std::memory_order_acquire) & bit) == 0) {
    CheckCuda(cudaFuncSetAttribute(SparseAttentionKernel,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(kAttentionSharedBytesMax)),
              "cudaFuncSetAttribute(shared memory)");
    raised.fetch_or(bit, std::memory_order_release);
  }
  const bool vec16 = head_dim % 8 == 0 && reinterpret_cast<uintptr_t>(kv) % 16 == 0;
  const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(tokens));
  SparseAttentionKernel<<<grid, kThreads, AttentionSharedBytes(head_dim), Raw(stream)>>>(
      q, heads, head_dim, kv, index, list_begin, n, sink, scale, o, vec16);
  CheckCuda(cudaGetLastError(), "SparseAttention launch");
}
}  // namespace

void SparseAttention(const float* q, int64_t heads, int64_t head_dim, const uint16_t* kv,
                     const int32_t* index, int64_t n, const float* sink, float scale, float* o,
                     CudaStream& stream) {
  LaunchSparseAttention(q, 1, heads, head_dim, kv, index, nullptr, n, sink, scale, o, stream);
}

void SparseAttentionTokens(const float* q, int64_t tokens, int64_t heads, int64_t head_dim,
                           const uint16_t* kv, const int32_t* index, const int64_t* list_begin,
                           const float* sink, float scale, float* o, CudaStream& stream) {
  LaunchSparseAttention(q, tokens, heads, head_dim, kv, index, list_begin, 0, sink, scale, o,
                        stream);
}

}  // namespace dsagent::engine::kernels::cuda
