// The MoE FFN's decode step on the device (forward/moe.h MoeForward for one token) with every
// routed expert in device memory: the exact gate product and the router (scored or hash), the
// chosen experts through ExpertMatVec (FP8 inputs, SwiGLU with the routing weight and clamp), the
// shared expert, and the combine, all queued on one stream without a host round trip. Composed of
// the kernels of ops.h and moe_ops.h; tested token by token against the CPU MoeForward in
// tests/engine/kernels/cuda_forward_ops_test.cc (skips without a device).
//
// Not here: experts kept in host memory (the placement planner's offload).
// Not thread-safe: one MoeDecode at a time per DeviceMoe.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/moe_ops.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct MoeShape {
  int64_t dim = 0, inter = 0;  // hidden size, moe_intermediate_size (multiples of 128)
  MoeRouteShape route;         // experts, k, score function, route_scale
  float swiglu_limit = 0;      // routed experts clamp when > 0; the shared expert never does
  bool hash = false;           // route by token id through the tid2eid table
};

// The host weights of one MoE layer, as stored.
struct MoeWeightRows {
  WeightRows gate;                  // [experts, dim]
  std::vector<float> bias;          // [experts], scored layers
  std::vector<int32_t> hash_table;  // [vocab, k] tid2eid as int32, hash layers
  std::vector<WeightRows> w1, w2,
      w3;  // per routed expert: [inter, dim], [dim, inter], [inter, dim]
  WeightRows shared_w1, shared_w2, shared_w3;
};

struct DeviceMoe {
  MoeShape shape;
  DeviceWeight gate, shared_w1, shared_w2, shared_w3;
  DeviceWeightSet w1, w2, w3;
  DeviceBuffer bias, hash_table;
  DeviceBuffer x_quant, logits, ids, weights, g, u, routed, shared_g, shared_u, shared_out;

  // Uploads everything. Throws std::invalid_argument for sizes that do not fit the shape,
  // CudaError for the device.
  static DeviceMoe Create(const MoeShape& shape, const MoeWeightRows& w, CudaStream& stream);
};

// One token: x [dim] (the ffn_norm output, bf16 values, device), token [1] its id (device; hash
// layers need it, scored layers ignore it) -> out [dim] (bf16 values, device).
void MoeDecode(DeviceMoe& m, const float* x, const int32_t* token, float* out, CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
