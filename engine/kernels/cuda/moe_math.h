// The arithmetic of the MoE routing and combine kernels (moe_ops.h), `__host__ __device__` and
// operation for operation forward/moe.h RouteFromScores / cpu/moe_ops.h CombineExperts, so the
// device-free tests run it on the host against the CPU code
// (tests/engine/kernels/cuda_forward_math_test.cc).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// forward::ScoreFunc, by value.
enum class RouteScoreFunc : int { kSoftmax = 0, kSigmoid = 1, kSqrtSoftplus = 2 };

// The routing score of one gate logit (sigmoid, sqrt(softplus)); softmax is per row (below).
DSAGENT_HD float RouteScore(float logit, RouteScoreFunc func) {
  return func == RouteScoreFunc::kSigmoid ? SigmoidF(logit) : SqrtF(SoftplusF(logit));
}
// Softmax over a row in place: exp(s - max) in double, summed in double in order, each rounded
// once to float (std::max_element's value: the first maximum).
DSAGENT_HD void SoftmaxRow(float* s, int64_t n) {
  float mx = s[0];
  for (int64_t i = 1; i < n; ++i) {
    if (mx < s[i]) mx = s[i];
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += exp(static_cast<double>(s[i]) - static_cast<double>(mx));
  for (int64_t i = 0; i < n; ++i) {
    s[i] = static_cast<float>(exp(static_cast<double>(s[i]) - static_cast<double>(mx)) / sum);
  }
}
// Whether expert a (biased score va) comes before expert b in the stable descending sort:
// a higher score, or an equal one and a lower id. A total order on (score, id) for non-NaN
// scores, so a reduction over it in any order picks the stable sort's winner.
DSAGENT_HD bool RanksBefore(float va, int32_t a, float vb, int32_t b) {
  return va > vb || (!(vb > va) && a < b);
}
// The chosen experts' weights from their scores: divided by their sum (double in slot order,
// rounded to float; not for softmax), times route_scale.
DSAGENT_HD void RouteWeights(const float* chosen, int64_t k, RouteScoreFunc func, float route_scale,
                             float* weights) {
  double sum = 0;
  for (int64_t j = 0; j < k; ++j) sum += (weights[j] = chosen[j]);
  const float total = static_cast<float>(sum);
  for (int64_t j = 0; j < k; ++j) {
    if (func != RouteScoreFunc::kSoftmax) weights[j] /= total;
    weights[j] *= route_scale;
  }
}

// The combine's slots of a row of k (k <= kMaxRouteK) into slots: ascending expert id, ties in
// slot order (a stable insertion sort; k is small), an expert chosen twice counted once (its
// first slot). Returns how many.
constexpr int kMaxRouteK = 16;
DSAGENT_HD int CombineSlots(const int32_t* id, int k, int* slots) {
  int order[kMaxRouteK];
  for (int j = 0; j < k; ++j) {
    int i = j;
    while (i > 0 && id[order[i - 1]] > id[j]) {
      order[i] = order[i - 1];
      --i;
    }
    order[i] = j;
  }
  int n = 0;
  for (int j = 0; j < k; ++j) {
    if (j == 0 || id[order[j]] != id[order[j - 1]]) slots[n++] = order[j];
  }
  return n;
}
// out[t, d]: the routed outputs routed_t [k, dim] of the row's CombineSlots summed in fp32 in that
// order, plus shared, rounded to bf16. The loads do not depend on each other or on the sum, so a
// thread has them all in flight at once.
DSAGENT_HD float CombineValue(const float* routed_t, float shared, const int* slots, int n,
                              int64_t dim, int64_t d) {
  float y = 0.0f;
  for (int j = 0; j < n; ++j) y += routed_t[slots[j] * dim + d];
  y += shared;
  return RoundBf16(y);
}

}  // namespace dsagent::engine::kernels::cuda
