// What the CPU's products of routed experts cost on this machine (the GPU's expert offload,
// kernels/cuda/expert_stream_costs.h, weighs them against copying the experts to the device):
// a line through two timed calls of the same experts, one row each and kRowsMeasured rows each,
// so that a call of E experts over S slots costs about E x expert_seconds + S x slot_seconds.
// bench/host_experts_bench holds the line against whole calls.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace dsagent::engine::forward {

// A call of the routed experts' products with RoutedExpertsForward's arguments (moe.h): xq
// [*, dim] FP8-quantised rows, rows [n] (null: row 0), ids [n], weights [n] -> out [n, dim].
using RoutedExpertsCall =
    std::function<void(const float* xq, const int64_t* rows, const int32_t* ids,
                       const float* weights, int64_t n, float* out)>;

struct RoutedExpertsCost {
  double expert_seconds = 0;  // an expert in a call, whatever its slots
  double slot_seconds = 0;    // each slot (row) that chose it
};

inline constexpr int64_t kRowsMeasured = 8;
// How many experts a measurement takes (the GPU offload's, and host_experts_bench's).
inline constexpr int64_t kExpertsMeasured = 8;

// The least of two timings of `work`, in seconds.
double BestOfTwoSeconds(const std::function<void()>& work);

// The line through `experts` experts' time on one row each (`one`) and on kRowsMeasured rows
// each (`many`), both figures clamped at 0: the device's products are fitted the same way
// (kernels/cuda/expert_stream_costs.h).
RoutedExpertsCost CostLine(double one, double many, int64_t experts);

// Times `call` on `experts` (ids it computes; inputs of FP8-grid values, dim wide): a warm-up,
// then the best of two calls with kRowsMeasured rows an expert and the best of two with one row
// an expert. Both figures are >= 0; empty `experts` gives zeros.
RoutedExpertsCost MeasureRoutedExpertsCost(const RoutedExpertsCall& call,
                                           const std::vector<int32_t>& experts, int64_t dim);

}  // namespace dsagent::engine::forward
