#include "engine/kernels/cpu/moe_ops.h"

#include <algorithm>
#include <vector>

#include "engine/kernels/number_formats.h"

namespace dsagent::engine::kernels::cpu {

void SwiGluInPlace(float* g, const float* u, int64_t n, int64_t inter, const float* row_weight,
                   float limit) {
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < inter; ++i) {
      float& gv = g[t * inter + i];
      float uv = u[t * inter + i];
      if (limit > 0) {
        uv = std::clamp(uv, -limit, limit);
        gv = std::min(gv, limit);
      }
      float a = SiluF(gv) * uv;
      if (row_weight != nullptr) a = row_weight[t] * a;
      gv = RoundBf16(a);
    }
  }
}

void CombineExperts(const float* routed, const float* shared, const int32_t* ids, int64_t rows,
                    int64_t k, int64_t dim, float* out) {
  // The slots of a row in ascending expert order (k is small: n_activated_experts).
  int32_t small_order[64];
  std::vector<int32_t> big_order;
  int32_t* order = small_order;
  if (k > 64) {
    big_order.resize(static_cast<size_t>(k));
    order = big_order.data();
  }
  for (int64_t t = 0; t < rows; ++t) {
    // A stable insertion sort: the same permutation as std::stable_sort (a stable order is
    // unique), without its temporary buffer.
    const int32_t* id = ids + t * k;
    for (int64_t j = 0; j < k; ++j) {
      int64_t i = j;
      for (; i > 0 && id[order[i - 1]] > id[j]; --i) order[i] = order[i - 1];
      order[i] = static_cast<int32_t>(j);
    }
    for (int64_t d = 0; d < dim; ++d) {
      float y = 0.0f;
      for (int64_t j = 0; j < k; ++j) {
        if (j > 0 && id[order[j]] == id[order[j - 1]]) continue;
        y += routed[(t * k + order[j]) * dim + d];
      }
      y += shared[t * dim + d];
      out[t * dim + d] = RoundBf16(y);
    }
  }
}

}  // namespace dsagent::engine::kernels::cpu
