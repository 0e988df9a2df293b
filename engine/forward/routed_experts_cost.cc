#include "engine/forward/routed_experts_cost.h"

#include <algorithm>
#include <chrono>
#include <limits>

namespace dsagent::engine::forward {

double BestOfTwoSeconds(const std::function<void()>& work) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < 2; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    work();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

RoutedExpertsCost CostLine(double one, double many, int64_t experts) {
  RoutedExpertsCost cost;
  if (experts <= 0) return cost;
  const double per = 1.0 / static_cast<double>(experts);
  cost.slot_seconds = std::max(0.0, (many - one) * per / static_cast<double>(kRowsMeasured - 1));
  cost.expert_seconds = std::max(0.0, one * per - cost.slot_seconds);
  return cost;
}

RoutedExpertsCost MeasureRoutedExpertsCost(const RoutedExpertsCall& call,
                                           const std::vector<int32_t>& experts, int64_t dim) {
  RoutedExpertsCost cost;
  const auto n = static_cast<int64_t>(experts.size());
  if (n == 0 || dim <= 0) return cost;
  // 0.5 is on the FP8 grid; the kernels' time does not depend on the values.
  std::vector<float> xq(static_cast<size_t>(kRowsMeasured * dim), 0.5f);
  std::vector<int32_t> ids;
  std::vector<int64_t> rows;
  for (const int32_t e : experts) {
    for (int64_t r = 0; r < kRowsMeasured; ++r) {
      ids.push_back(e);
      rows.push_back(r);
    }
  }
  const auto slots = static_cast<int64_t>(ids.size());
  std::vector<float> weights(static_cast<size_t>(slots), 1.0f / static_cast<float>(slots));
  std::vector<float> out(static_cast<size_t>(slots * dim));
  const auto on_rows = [&] {
    call(xq.data(), rows.data(), ids.data(), weights.data(), slots, out.data());
  };
  on_rows();  // warm-up: the calling thread's buffers, the pool's threads
  const double many = BestOfTwoSeconds(on_rows);
  const double one = BestOfTwoSeconds(
      [&] { call(xq.data(), nullptr, experts.data(), weights.data(), n, out.data()); });
  cost = CostLine(one, many, n);
  return cost;
}

}  // namespace dsagent::engine::forward
