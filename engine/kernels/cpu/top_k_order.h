// The top-k selection the router and the lightning indexer share: the indices of the k largest
// scores, in descending order, ties to the lower index. That is the prefix of a stable sort by
// score descending (what the reference's torch.topk gives here, and what this code did before);
// since (score descending, then index ascending) is a total order, any sort under it gives the
// same prefix, so this one selects with std::nth_element and sorts the k selected with std::sort:
// O(n + k log k), and neither allocates (std::stable_sort takes a temporary buffer per call).
// -0 and +0 compare equal, as under the stable sort; scores must not be NaN (the scores are
// finite: sigmoid / softplus / softmax outputs plus a bias, and bf16 index scores).
//
// Thread-safety: a pure function over caller-owned memory.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace dsagent::engine::kernels::cpu {

// order [n] is scratch; its first min(k, n) entries become the indices of the min(k, n) largest of
// score [n], largest first, equal scores by ascending index. Returns min(k, n).
inline int64_t TopKOrder(const float* score, int64_t n, int64_t k, int32_t* order) {
  const int64_t count = std::max<int64_t>(0, std::min(k, n));
  if (count == 0) return 0;
  std::iota(order, order + n, 0);
  const auto before = [score](int32_t a, int32_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  };
  if (count < n) std::nth_element(order, order + count, order + n, before);
  std::sort(order, order + count, before);
  return count;
}

}  // namespace dsagent::engine::kernels::cpu
