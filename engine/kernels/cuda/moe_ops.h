// The CUDA kernels of the MoE router and the combine of the experts' outputs, with the contract of
// their CPU twins; the arithmetic is moe_math.h's, shared with the host:
//   MoeRoute    forward/moe.h RouteFromScores (score function, hash or biased top-k, weights)
//   MoeCombine  cpu/moe_ops.h CombineExperts
// The gate product before MoeRoute is the CPU's exact product (Compute::Exact): MoeRoute takes the
// gate's products as input (MatVecExact's), GateAndRoute computes them and routes in one launch.
// Pointers are device pointers; calls are queued on `stream` (bad arguments and failed
// launches throw CudaError). Tested against the CPU twins in tests/engine/kernels/
// cuda_forward_ops_test.cc (skips without a device).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/mixing_ops.h"
#include "engine/kernels/cuda/moe_math.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct MoeRouteShape {
  int64_t experts = 0;  // n_routed_experts (<= 4096)
  int64_t k = 0;        // n_activated_experts (1 .. 16)
  RouteScoreFunc func = RouteScoreFunc::kSqrtSoftplus;
  float route_scale = 1.0f;
};

// For each of `rows` tokens: logits [rows, experts] (the gate's fp32 products) -> ids [rows, k]
// and weights [rows, k]. Hash layers pass hash_table [vocab, k] (tid2eid as int32; ids must be
// below `experts`: one that is not gets a NaN weight) and tokens [rows]; other layers pass
// hash_table = tokens = null and bias [experts] (top-k of score + bias). With paired_ids set,
// also paired_ids [rows, k] = ids + paired_offset: the MoE's decode multiplies w1 and w3 in one
// launch over a table of both sets' views, w3's after w1's (moe_step.h DeviceMoe::w13_views).
void MoeRoute(const float* logits, int64_t rows, const MoeRouteShape& shape, const float* bias,
              const int32_t* hash_table, const int32_t* tokens, int32_t* ids, float* weights,
              CudaStream& stream, int32_t* paired_ids = nullptr, int32_t paired_offset = 0);

// MatVecExact(gate, x, rows, x_stride, logits, experts) and then MoeRoute(logits, rows, ...) in one
// launch, with their bits: one CTA per (expert, row) computes that logit, and the last of a row's
// CTAs to finish routes the row (last_cta.cuh), so a decode step's router is one kernel on its
// critical path instead of two. arrivals [rows]: device memory that is zero before the first call
// (DeviceBuffer::Zero) and is left zero by each; it and logits belong to one launch at a time.
// gate.rows must be shape.experts. With FusedStepsOn() false (fused_steps.h), the two launches.
//
// With `grouping`, the call's rows * k slots are then grouped by expert into grouping->groups
// (GroupExpertSlots' result and bits) by the CTA that routes the last row to finish, counted on
// grouping->arrivals (one word, zero before and after, like `arrivals`): no launch of its own
// between the router and the grouped expert products. rows * k must fit the groups.
struct RouteGrouping {
  ExpertGroups* groups = nullptr;
  unsigned* arrivals = nullptr;
};
void GateAndRoute(const DeviceWeight& gate, const float* x, int64_t rows, int64_t x_stride,
                  float* logits, const MoeRouteShape& shape, const float* bias,
                  const int32_t* hash_table, const int32_t* tokens, int32_t* ids, float* weights,
                  unsigned* arrivals, CudaStream& stream, int32_t* paired_ids = nullptr,
                  int32_t paired_offset = 0, const RouteGrouping* grouping = nullptr);

// out [rows, dim] = bf16(sum of routed [rows, k, dim] over each row's distinct experts in
// ascending id order (fp32) + shared [rows, dim]). out may alias shared, not routed. k <= 16.
// With then_post, HcPost(out, then_post->h, ...) follows in the same launch, each thread on the
// values it wrote: one launch where the MoE's decode took two, the two ops' bits.
void MoeCombine(const float* routed, const float* shared, const int32_t* ids, int64_t rows,
                int64_t k, int64_t dim, float* out, CudaStream& stream,
                const HcPostArgs* then_post = nullptr);

}  // namespace dsagent::engine::kernels::cuda
