// MoeRoute and MoeCombine on the device (moe_ops.h); the arithmetic is moe_math.h's, shared with
// the host tests. Simple first: one block per token for the router, one thread per output value
// for the combine.
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/mixing_math.h"
#include "engine/kernels/cuda/moe_ops.h"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxExperts = 4096;  // 9 bytes each of shared memory

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

// The warp's best (value, id) under RanksBefore into every lane (-1: none); a total order, so the
// shuffles' pairing does not matter.
__device__ void WarpBest(float& v, int32_t& id) {
  for (int offset = 16; offset > 0; offset /= 2) {
    const float other_v = __shfl_xor_sync(0xffffffffu, v, offset);
    const int32_t other_id = __shfl_xor_sync(0xffffffffu, id, offset);
    if (other_id >= 0 && (id < 0 || RanksBefore(other_v, other_id, v, id))) {
      v = other_v;
      id = other_id;
    }
  }
}

// One block per token: the scores in shared memory (softmax by one thread, in the CPU's order),
// then k rounds of an arg-max over the experts not yet taken under RanksBefore (a total order, so
// the reduction's shape does not matter: the stable sort's first k), then the weights by one
// thread.
__global__ void MoeRouteKernel(const float* logits, MoeRouteShape shape, const float* bias,
                               const int32_t* hash_table, const int32_t* tokens, int32_t* ids,
                               float* weights, int32_t* paired_ids, int32_t paired_offset) {
  AwaitPreviousKernel();
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t n = shape.experts;
  float* s = reinterpret_cast<float*>(smem);                            // [n] scores
  float* biased = s + n;                                                // [n]
  unsigned char* taken = reinterpret_cast<unsigned char*>(biased + n);  // [n]
  __shared__ float best_value[kThreads / 32];
  __shared__ int32_t best_id[kThreads / 32];
  __shared__ int32_t chosen[kMaxRouteK];
  const int64_t row = blockIdx.x;
  const int tid = static_cast<int>(threadIdx.x);
  for (int64_t i = tid; i < n; i += blockDim.x) {
    const float logit = logits[row * n + i];
    s[i] = shape.func == RouteScoreFunc::kSoftmax ? logit : RouteScore(logit, shape.func);
    taken[i] = 0;
  }
  __syncthreads();
  if (shape.func == RouteScoreFunc::kSoftmax && tid == 0) SoftmaxRow(s, n);
  __syncthreads();
  if (hash_table != nullptr) {
    if (tid < shape.k) chosen[tid] = hash_table[static_cast<int64_t>(tokens[row]) * shape.k + tid];
  } else {
    for (int64_t i = tid; i < n; i += blockDim.x) biased[i] = s[i] + bias[i];
    __syncthreads();
    // Each round: every thread's best among its experts not taken, then each warp's by shuffles,
    // then the warps' by warp 0 (two barriers a round, where a tree in shared memory took nine).
    const int lane = tid & 31, warp = tid >> 5;
    for (int64_t j = 0; j < shape.k; ++j) {
      float v = 0.0f;
      int32_t id = -1;
      for (int64_t i = tid; i < n; i += blockDim.x) {
        if (taken[i]) continue;
        if (id < 0 || RanksBefore(biased[i], static_cast<int32_t>(i), v, id)) {
          v = biased[i];
          id = static_cast<int32_t>(i);
        }
      }
      WarpBest(v, id);
      if (lane == 0) {
        best_value[warp] = v;
        best_id[warp] = id;
      }
      __syncthreads();
      if (warp == 0) {
        v = lane < kThreads / 32 ? best_value[lane] : 0.0f;
        id = lane < kThreads / 32 ? best_id[lane] : -1;
        WarpBest(v, id);
        if (lane == 0) {
          chosen[j] = id;
          taken[id] = 1;
        }
      }
      __syncthreads();
    }
  }
  __syncthreads();
  if (tid == 0) {
    float picked[kMaxRouteK], w[kMaxRouteK];
    for (int64_t j = 0; j < shape.k; ++j) {
      const int32_t id = chosen[j];
      picked[j] = id >= 0 && id < n ? s[id] : QuietNanF();
    }
    RouteWeights(picked, shape.k, shape.func, shape.route_scale, w);
    for (int64_t j = 0; j < shape.k; ++j) {
      ids[row * shape.k + j] = chosen[j];
      if (paired_ids != nullptr) paired_ids[row * shape.k + j] = chosen[j] + paired_offset;
      weights[row * shape.k + j] = w[j];
    }
  }
}

// With post.out set, then HcPost of the value it wrote (HcPostKernel's column: mixing_math.h).
__global__ void MoeCombineKernel(const float* routed, const float* shared, const int32_t* ids,
                                 int64_t rows, int k, int64_t dim, float* out, HcPostArgs post) {
  AwaitPreviousKernel();
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * dim) return;
  const int64_t t = idx / dim, d = idx % dim;
  const int32_t* id = ids + t * k;
  int order[kMaxRouteK];
  CombineOrder(id, k, order);
  out[idx] = CombineValue(routed + t * k * dim, shared[idx], id, order, k, dim, d);
  if (post.out == nullptr) return;
  HcPostColumn(out + idx, post.h, post.post, post.comb, t, static_cast<int>(post.shape.hc), dim, d,
               post.out);
}

}  // namespace

void MoeRoute(const float* logits, int64_t rows, const MoeRouteShape& shape, const float* bias,
              const int32_t* hash_table, const int32_t* tokens, int32_t* ids, float* weights,
              CudaStream& stream, int32_t* paired_ids, int32_t paired_offset) {
  if (shape.experts <= 0 || shape.experts > kMaxExperts || shape.k <= 0 || shape.k > kMaxRouteK ||
      shape.k > shape.experts) {
    throw CudaError("MoeRoute: " + std::to_string(shape.k) + " of " +
                    std::to_string(shape.experts) +
                    " experts is outside the kernel's range (k 1.." + std::to_string(kMaxRouteK) +
                    ", experts up to " + std::to_string(kMaxExperts) + ")");
  }
  if ((hash_table == nullptr) != (tokens == nullptr) ||
      (hash_table == nullptr && bias == nullptr)) {
    throw CudaError("MoeRoute: pass hash_table and tokens (hash layers) or bias (the others)");
  }
  if (rows <= 0) return;
  const size_t shared = static_cast<size_t>(shape.experts) * (2 * sizeof(float) + 1);
  LaunchKernel(MoeRouteKernel, "MoeRouteKernel", static_cast<unsigned>(rows), kThreads, shared,
               Raw(stream), logits, shape, bias, hash_table, tokens, ids, weights, paired_ids,
               paired_offset);
  CheckCuda(cudaGetLastError(), "MoeRoute launch");
}

void MoeCombine(const float* routed, const float* shared, const int32_t* ids, int64_t rows,
                int64_t k, int64_t dim, float* out, CudaStream& stream,
                const HcPostArgs* then_post) {
  if (k <= 0 || k > kMaxRouteK) {
    throw CudaError("MoeCombine: k " + std::to_string(k) + " is outside 1.." +
                    std::to_string(kMaxRouteK));
  }
  if (then_post != nullptr) {
    CheckHcPost(*then_post);
    if (then_post->shape.dim != dim) {
      throw CudaError("MoeCombine: HcPost over " + std::to_string(then_post->shape.dim) +
                      " dims after a combine of " + std::to_string(dim));
    }
  }
  if (rows <= 0 || dim <= 0) return;
  const int64_t n = rows * dim;
  LaunchKernel(MoeCombineKernel, "MoeCombineKernel",
               static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, Raw(stream),
               routed, shared, ids, rows, static_cast<int>(k), dim, out,
               then_post != nullptr ? *then_post : HcPostArgs{});
  CheckCuda(cudaGetLastError(), "MoeCombine launch");
}

}  // namespace dsagent::engine::kernels::cuda
