// MoeRoute and MoeCombine on the device (moe_ops.h); the arithmetic is moe_math.h's, shared with
// the host tests. Simple first: one block per token for the router, one thread per output value
// for the combine.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "engine/kernels/cuda/exact_dot_cta.cuh"
#include "engine/kernels/cuda/expert_groups_cta.cuh"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/l2_prefetch.cuh"
#include "engine/kernels/cuda/last_cta.cuh"
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

// One token's routing by one CTA (any whole number of warps up to 1,024 threads): the scores in
// shared memory (softmax by one thread, in the CPU's order), then the k best experts under
// RanksBefore (a total order, so neither the reduction's shape nor the thread count matters: the
// stable sort's first k; each warp's k best, then the best k of those), then the weights by one
// thread. The logits are read as volatile: in the gate's launch they are other CTAs' writes
// (last_cta.cuh). smem: the dynamic shared memory, experts * 9 bytes.
__device__ void RouteRowCta(const volatile float* logits, const MoeRouteShape& shape,
                            const float* bias, const int32_t* hash_table, const int32_t* tokens,
                            int64_t row, int32_t* ids, float* weights, int32_t* paired_ids,
                            int32_t paired_offset, unsigned char* smem) {
  const int64_t n = shape.experts;
  float* s = reinterpret_cast<float*>(smem);                            // [n] scores
  float* biased = s + n;                                                // [n]
  unsigned char* taken = reinterpret_cast<unsigned char*>(biased + n);  // [n]
  __shared__ float candidate_value[32 * kMaxRouteK];  // [warp][round]: each warp's best k
  __shared__ int32_t candidate_id[32 * kMaxRouteK];
  __shared__ int32_t chosen[kMaxRouteK];
  const int tid = static_cast<int>(threadIdx.x);
  const int warps = static_cast<int>(blockDim.x) / 32;
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
    // Each warp's best k among its experts, in k rounds of an arg-max by shuffles without a
    // barrier (every thread's best among its experts not taken, then the warp's: WarpBest; the
    // thread that owns the winner marks it taken, and only it reads that mark again). Then warp 0
    // takes the best k of the warps' candidates the same way. RanksBefore is a total order and
    // every one of the k best is among its own warp's k best, so these are the CTA-wide rounds'
    // k experts in the same order, where those rounds took two barriers each.
    const int lane = tid & 31, warp = tid >> 5;
    const int k = static_cast<int>(shape.k);
    for (int j = 0; j < k; ++j) {
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
      if (id >= 0 && id % static_cast<int32_t>(blockDim.x) == tid) taken[id] = 1;
      if (lane == 0) {
        candidate_value[warp * k + j] = v;
        candidate_id[warp * k + j] = id;
      }
    }
    __syncthreads();
    if (warp == 0) {
      // Lane l holds candidates l, l + 32, ... (warps * k of them, at most 16 a lane).
      const int candidates = warps * k;
      uint32_t used = 0;  // bit u: candidate lane + 32u chosen
      for (int j = 0; j < k; ++j) {
        float v = 0.0f;
        int32_t id = -1;
        int mine = -1;
        for (int c = lane, u = 0; c < candidates; c += 32, ++u) {
          const int32_t cid = candidate_id[c];
          if ((used >> u) & 1u || cid < 0) continue;
          if (id < 0 || RanksBefore(candidate_value[c], cid, v, id)) {
            v = candidate_value[c];
            id = cid;
            mine = u;
          }
        }
        const int32_t own = id;
        WarpBest(v, id);
        if (id >= 0 && own == id) used |= 1u << mine;
        if (lane == 0) chosen[j] = id;
      }
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

// One block per token: RouteRowCta.
__global__ void MoeRouteKernel(const float* logits, MoeRouteShape shape, const float* bias,
                               const int32_t* hash_table, const int32_t* tokens, int32_t* ids,
                               float* weights, int32_t* paired_ids, int32_t paired_offset) {
  AwaitPreviousKernel();
  extern __shared__ __align__(16) unsigned char smem[];
  RouteRowCta(logits, shape, bias, hash_table, tokens, blockIdx.x, ids, weights, paired_ids,
              paired_offset, smem);
}

// Where GateRouteKernel groups the slots once every row is routed (order null: it does not).
struct GroupInto {
  int32_t* order = nullptr;
  ExpertPiece* pieces = nullptr;
  int32_t* count = nullptr;
  unsigned* arrivals = nullptr;  // the routed rows' count
};

// Grid (experts, rows) of ExactMatVecThreads(gate.cols) threads: CTA (i, t) writes the gate's
// exact product i of row t (MatVecExactKernel's bits) to logits, and the last of row t's CTAs to
// finish routes the row (MoeRouteKernel's bits); with group.order set, the last of those to
// finish groups every row's slots (GroupSlotsKernel's). arrivals [rows]: zero between launches.
__global__ void __launch_bounds__(1024)
    GateRouteKernel(WeightView gate, const float* x, int64_t x_stride, float* logits,
                    MoeRouteShape shape, const float* bias, const int32_t* hash_table,
                    const int32_t* tokens, int32_t* ids, float* weights, int32_t* paired_ids,
                    int32_t paired_offset, unsigned* arrivals, GroupInto group) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t i = blockIdx.x, t = blockIdx.y;
  // The gate's row into L2 before the wait for the kernel ahead (the first row's CTA).
  if (t == 0) {
    PrefetchWeightRowsL2(gate, i, 1, static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x));
  }
  AwaitPreviousKernel();
  const double total = ExactRowDotCta(gate, i, x + t * x_stride);
  if (threadIdx.x == 0) logits[t * shape.experts + i] = static_cast<float>(total);
  if (!LastCtaToArrive(&arrivals[t], static_cast<unsigned>(shape.experts))) return;
  RouteRowCta(logits, shape, bias, hash_table, tokens, t, ids, weights, paired_ids, paired_offset,
              smem);
  if (group.order == nullptr || !LastCtaToArrive(group.arrivals, gridDim.y)) return;
  GroupSlotsCta(ids, static_cast<int>(gridDim.y * shape.k), group.order, group.pieces, group.count,
                reinterpret_cast<int32_t*>(smem));
}

// With post.out set, then HcPost of the value it wrote (HcPostKernel's column: mixing_math.h).
__global__ void MoeCombineKernel(const float* routed, const float* shared, const int32_t* ids,
                                 int64_t rows, int k, int64_t dim, float* out, HcPostArgs post) {
  AwaitPreviousKernel();
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * dim) return;
  const int64_t t = idx / dim, d = idx % dim;
  int slots[kMaxRouteK];
  const int n = CombineSlots(ids + t * k, k, slots);
  out[idx] = CombineValue(routed + t * k * dim, shared[idx], slots, n, dim, d);
  if (post.out == nullptr) return;
  HcPostColumn(out + idx, post.h, post.post, post.comb, t, static_cast<int>(post.shape.hc), dim, d,
               post.out);
}

}  // namespace

namespace {

// MoeRoute's and GateAndRoute's shared checks; the route's dynamic shared memory.
size_t CheckRoute(const MoeRouteShape& shape, const float* bias, const int32_t* hash_table,
                  const int32_t* tokens, const char* op) {
  if (shape.experts <= 0 || shape.experts > kMaxExperts || shape.k <= 0 || shape.k > kMaxRouteK ||
      shape.k > shape.experts) {
    throw CudaError(std::string(op) + ": " + std::to_string(shape.k) + " of " +
                    std::to_string(shape.experts) +
                    " experts is outside the kernel's range (k 1.." + std::to_string(kMaxRouteK) +
                    ", experts up to " + std::to_string(kMaxExperts) + ")");
  }
  if ((hash_table == nullptr) != (tokens == nullptr) ||
      (hash_table == nullptr && bias == nullptr)) {
    throw CudaError(std::string(op) +
                    ": pass hash_table and tokens (hash layers) or bias (the others)");
  }
  return static_cast<size_t>(shape.experts) * (2 * sizeof(float) + 1);
}

}  // namespace

void MoeRoute(const float* logits, int64_t rows, const MoeRouteShape& shape, const float* bias,
              const int32_t* hash_table, const int32_t* tokens, int32_t* ids, float* weights,
              CudaStream& stream, int32_t* paired_ids, int32_t paired_offset) {
  const size_t shared = CheckRoute(shape, bias, hash_table, tokens, "MoeRoute");
  if (rows <= 0) return;
  LaunchKernel(MoeRouteKernel, "MoeRouteKernel", static_cast<unsigned>(rows), kThreads, shared,
               Raw(stream), logits, shape, bias, hash_table, tokens, ids, weights, paired_ids,
               paired_offset);
  CheckCuda(cudaGetLastError(), "MoeRoute launch");
}

void GateAndRoute(const DeviceWeight& gate, const float* x, int64_t rows, int64_t x_stride,
                  float* logits, const MoeRouteShape& shape, const float* bias,
                  const int32_t* hash_table, const int32_t* tokens, int32_t* ids, float* weights,
                  unsigned* arrivals, CudaStream& stream, int32_t* paired_ids,
                  int32_t paired_offset, const RouteGrouping* grouping) {
  size_t shared = CheckRoute(shape, bias, hash_table, tokens, "GateAndRoute");
  const int64_t slots = rows * shape.k;
  if (grouping != nullptr && (grouping->groups == nullptr || grouping->arrivals == nullptr ||
                              slots > grouping->groups->max_slots)) {
    throw CudaError("GateAndRoute: " + std::to_string(slots) +
                    " slots to group, the grouping has room for " +
                    std::to_string(grouping->groups != nullptr ? grouping->groups->max_slots : 0));
  }
  if (gate.rows != shape.experts) {
    throw CudaError("GateAndRoute: a gate of " + std::to_string(gate.rows) + " rows for " +
                    std::to_string(shape.experts) + " experts");
  }
  if (rows > 65535) {
    throw CudaError("GateAndRoute: " + std::to_string(rows) + " rows (at most 65535)");
  }
  if (rows <= 0) return;
  if (!FusedStepsOn()) {
    MatVecExact(gate, x, rows, x_stride, logits, shape.experts, false, stream);
    MoeRoute(logits, rows, shape, bias, hash_table, tokens, ids, weights, stream, paired_ids,
             paired_offset);
    if (grouping != nullptr) GroupExpertSlots(ids, slots, *grouping->groups, stream);
    return;
  }
  GroupInto group;
  if (grouping != nullptr) {
    group.order = grouping->groups->order.as<int32_t>();
    group.pieces = grouping->groups->pieces.as<ExpertPiece>();
    group.count = grouping->groups->count.as<int32_t>();
    group.arrivals = grouping->arrivals;
    shared = std::max(shared, static_cast<size_t>(2 * slots) * sizeof(int32_t));
  }
  const dim3 grid(static_cast<unsigned>(shape.experts), static_cast<unsigned>(rows));
  LaunchKernel(GateRouteKernel, "GateRouteKernel", grid, ExactMatVecThreads(gate.cols), shared,
               Raw(stream), ViewOf(gate), x, x_stride, logits, shape, bias, hash_table, tokens, ids,
               weights, paired_ids, paired_offset, arrivals, group);
  CheckCuda(cudaGetLastError(), "GateAndRoute launch");
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
