// HeadRmsNorm, HadamardRotate and SparseAttention on the device (attention_ops.h); the arithmetic
// is attention_math.h's, shared with the host tests. Simple first: one block per vector or head,
// reductions in shared memory; not tuned (no GPU has run them yet).
#include <cuda_runtime.h>

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

// One block per head. Per index block of 64: each warp takes whole q.K dots (lanes over the
// dims, combined by shuffles in double), thread 0 runs the online-softmax step over the block in
// the CPU's order, then each thread accumulates P.V for its dims in index order (the CPU's
// order: the same bits).
// Grid: (heads, tokens). Token t's list is index[list_begin[t] .. list_begin[t+1]), or the one
// list index[0 .. n) when list_begin is null.
__global__ void SparseAttentionKernel(const float* q, int64_t heads, int64_t hd, const uint16_t* kv,
                                      const int32_t* index, const int64_t* list_begin, int64_t n,
                                      const float* sink, float scale, float* o) {
  extern __shared__ __align__(16) unsigned char smem[];
  float* acc = reinterpret_cast<float*>(smem);  // [hd]
  __shared__ float score[kAttentionBlock];
  __shared__ double pb[kAttentionBlock];
  __shared__ OnlineSoftmax state;
  __shared__ float rescale, denom;
  __shared__ int visible;
  const int64_t head = blockIdx.x, t = blockIdx.y;
  const float* qh = q + (t * heads + head) * hd;
  if (list_begin != nullptr) {
    index += list_begin[t];
    n = list_begin[t + 1] - list_begin[t];
  }
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) acc[d] = 0.0f;
  if (threadIdx.x == 0) state = NewOnlineSoftmax();
  __syncthreads();
  for (int64_t b0 = 0; b0 < n; b0 += kAttentionBlock) {
    const int bn = static_cast<int>(n - b0 < kAttentionBlock ? n - b0 : kAttentionBlock);
    for (int j = warp; j < bn; j += warps) {
      const int32_t e = index[b0 + j];
      double dot = 0;
      if (e >= 0) {
        const uint16_t* k = kv + static_cast<int64_t>(e) * hd;
        for (int64_t d = lane; d < hd; d += 32) {
          dot += static_cast<double>(qh[d]) * static_cast<double>(Bf16ToFloat(k[d]));
        }
      }
      for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(kFullWarp, dot, offset);
      if (lane == 0) score[j] = e < 0 ? NegInfF() : AttentionScore(dot, scale);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      OnlineSoftmax st = state;
      float rs = 0.0f;
      visible = SoftmaxBlockStep(score, bn, st, rs, pb) ? 1 : 0;
      state = st;
      rescale = rs;
    }
    __syncthreads();
    if (visible) {
      for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
        double pv = 0;
        for (int j = 0; j < bn; ++j) {
          if (pb[j] == 0.0) continue;
          const uint16_t* k = kv + static_cast<int64_t>(index[b0 + j]) * hd;
          pv += pb[j] * static_cast<double>(Bf16ToFloat(k[d]));
        }
        acc[d] = RescaledAccumulator(acc[d], rescale, pv);
      }
    }
    __syncthreads();  // score/pb are rewritten by the next block
  }
  if (threadIdx.x == 0) denom = SinkDenominator(state, sink[head]);
  __syncthreads();
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x)
    o[(t * heads + head) * hd + d] = RoundBf16(acc[d] / denom);
}

constexpr int64_t kMaxSharedBytes = 48 * 1024;  // without the opt-in attribute

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
void LaunchSparseAttention(const float* q, int64_t tokens, int64_t heads, int64_t head_dim,
                           const uint16_t* kv, const int32_t* index, const int64_t* list_begin,
                           int64_t n, const float* sink, float scale, float* o,
                           CudaStream& stream) {
  if (head_dim <= 0 || head_dim * static_cast<int64_t>(sizeof(float)) > kMaxSharedBytes) {
    throw CudaError("SparseAttention: head_dim " + std::to_string(head_dim) + " is outside 1 .. " +
                    std::to_string(kMaxSharedBytes / 4));
  }
  if (heads <= 0 || tokens <= 0) return;
  if (tokens > 65535) {
    throw CudaError("SparseAttention: " + std::to_string(tokens) +
                    " tokens in one call (at most 65535)");
  }
  const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(tokens));
  SparseAttentionKernel<<<grid, kThreads, static_cast<size_t>(head_dim) * sizeof(float),
                          Raw(stream)>>>(q, heads, head_dim, kv, index, list_begin, n, sink, scale,
                                         o);
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
