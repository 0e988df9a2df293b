#include "engine/kernels/cpu/router.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/kernels/cpu/top_k_order.h"
#include "engine/kernels/cpu/workspace_slots.h"
#include "engine/kernels/number_formats.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::kernels::cpu {

void RouteFromScores(float* scores, int64_t rows, const RouterShape& r, const float* bias,
                     const int32_t* hash_ids, int32_t* ids, float* weights) {
  const int64_t n_exp = r.experts, k = r.k;
  Workspace& ws = ThreadWorkspace();
  float* biased = ws.Get<float>(kRouterBiased, n_exp);
  int32_t* order = ws.Get<int32_t>(kRouterOrder, n_exp);
  double* e = ws.Get<double>(kRouterExp, n_exp);
  for (int64_t t = 0; t < rows; ++t) {
    float* s = scores + t * n_exp;
    if (r.func == ScoreFunc::kSoftmax) {
      const double mx = *std::max_element(s, s + n_exp);
      double sum = 0;
      for (int64_t i = 0; i < n_exp; ++i) sum += (e[i] = std::exp(s[i] - mx));
      for (int64_t i = 0; i < n_exp; ++i) s[i] = static_cast<float>(e[i] / sum);
    } else if (r.func == ScoreFunc::kSigmoid) {
      for (int64_t i = 0; i < n_exp; ++i) s[i] = SigmoidF(s[i]);
    } else {
      for (int64_t i = 0; i < n_exp; ++i) s[i] = SqrtF(SoftplusF(s[i]));
    }
    int32_t* id = ids + t * k;
    if (hash_ids != nullptr) {
      std::copy(hash_ids + t * k, hash_ids + (t + 1) * k, id);
    } else {
      for (int64_t i = 0; i < n_exp; ++i) biased[i] = s[i] + bias[i];
      TopKOrder(biased, n_exp, k, order);
      std::copy(order, order + k, id);
    }
    float* wt = weights + t * k;
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += (wt[j] = s[id[j]]);
    const float total = static_cast<float>(sum);
    for (int64_t j = 0; j < k; ++j) {
      if (r.func != ScoreFunc::kSoftmax) wt[j] /= total;
      wt[j] *= r.route_scale;
    }
  }
}

void GatherHashIds(const void* table, bool int64_entries, int64_t k, const int32_t* tokens,
                   int64_t rows, int32_t* ids) {
  const auto* bytes = static_cast<const uint8_t*>(table);
  const int64_t entry_bytes = int64_entries ? 8 : 4;
  for (int64_t t = 0; t < rows; ++t) {
    const uint8_t* row = bytes + static_cast<int64_t>(tokens[t]) * k * entry_bytes;
    for (int64_t j = 0; j < k; ++j) {
      if (int64_entries) {
        int64_t v;
        std::memcpy(&v, row + 8 * j, 8);
        ids[t * k + j] = static_cast<int32_t>(v);
      } else {
        std::memcpy(&ids[t * k + j], row + 4 * j, 4);
      }
    }
  }
}

}  // namespace dsagent::engine::kernels::cpu
