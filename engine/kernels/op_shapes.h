// The parameter structs of the ops in ops.h whose shape is more than rows x cols: the MoE router's
// (RouterShape, ScoreFunc) and the hyper-connections' (HcShape). Plain values, shared by every
// backend and by forward/, which fills them from the model config.
#pragma once

#include <cstdint>

namespace dsagent::engine::kernels {

// The router's score function (config scoring_func).
enum class ScoreFunc { kSoftmax, kSigmoid, kSqrtSoftplus };

struct RouterShape {
  int64_t experts = 0;  // n_routed_experts
  int64_t k = 0;        // n_activated_experts
  ScoreFunc func = ScoreFunc::kSqrtSoftplus;
  float route_scale = 1.0f;
};

// Manifold-constrained hyper-connections: hc residual streams of dim values per token.
struct HcShape {
  int64_t hc = 4;   // streams
  int64_t dim = 0;  // hidden size
  int sinkhorn_iters = 20;
  float hc_eps = 1e-6f;
  float norm_eps = 1e-6f;
};

}  // namespace dsagent::engine::kernels
