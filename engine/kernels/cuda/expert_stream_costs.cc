#include "engine/kernels/cuda/expert_stream_costs.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <vector>

#include "engine/forward/routed_experts_cost.h"
#include "engine/kernels/cuda/expert_stream.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The device's time for MoeRows's expert products (the grouped kernel: w1, w3, then w2) of
// `experts` from the tables w1, w3, w2, each on `rows_each` rows: the best of two after a
// warm-up, synchronised.
double DeviceProducts(const ExpertSetViews& w1, const ExpertSetViews& w3, const ExpertSetViews& w2,
                      const std::vector<int32_t>& experts, int64_t rows_each, const MoeShape& s,
                      CudaStream& stream) {
  std::vector<int32_t> slot_ids;
  for (const int32_t e : experts) {
    slot_ids.insert(slot_ids.end(), static_cast<size_t>(rows_each), e);
  }
  const auto slots = static_cast<int64_t>(slot_ids.size());
  const int64_t wide = std::max(s.dim, s.inter);
  ExpertGroups groups = ExpertGroups::Create(slots);
  DeviceBuffer ids(static_cast<size_t>(slots) * sizeof(int32_t));
  ids.Upload(slot_ids.data(), ids.bytes(), stream);
  // Inputs of FP8 values (0.5); the kernels' time does not depend on them.
  const std::vector<float> inputs(static_cast<size_t>(slots * wide), 0.5f);
  DeviceBuffer x = DeviceFloats(slots * wide), y = DeviceFloats(slots * wide);
  x.Upload(inputs.data(), x.bytes(), stream);
  GroupExpertSlots(ids.as<int32_t>(), slots, groups, stream);
  const auto run = [&] {
    const int32_t* id = ids.as<int32_t>();
    ExpertGemmMatVec(w1, groups, id, slots, x.as<float>(), s.dim, y.as<float>(), s.inter, true,
                     stream);
    ExpertGemmMatVec(w3, groups, id, slots, x.as<float>(), s.dim, y.as<float>(), s.inter, true,
                     stream);
    ExpertGemmMatVec(w2, groups, id, slots, x.as<float>(), s.inter, y.as<float>(), s.dim, true,
                     stream);
    stream.Synchronize();
  };
  run();  // warm-up: the kernels' first launches
  return forward::BestOfTwoSeconds(run);
}

}  // namespace

ExpertStreamCosts MeasureExpertStreamCosts(DeviceMoe& m, CudaStream& stream) {
  ExpertStreamCosts costs;
  if (m.stream_pools == nullptr || !m.host_experts) return costs;
  ExpertStreamPools& pools = *m.stream_pools;
  const MoeShape& s = m.shape;
  const int64_t n =
      std::min({forward::kExpertsMeasured, s.route.experts - m.on_device, pools.w1.capacity});
  if (n <= 0) return costs;
  std::vector<int32_t> experts(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    experts[static_cast<size_t>(i)] = static_cast<int32_t>(m.on_device + i);
  }
  // The best of three runs: its whole time, and the host's time to queue its copies.
  double copies = std::numeric_limits<double>::infinity(), queued = 0;
  ExpertSetViews v1, v2, v3;
  for (int run = 0; run < 3; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    v1 = StreamExperts(m.w1, m.host_w1, experts.data(), n, pools.w1, stream);
    v3 = StreamExperts(m.w3, m.host_w3, experts.data(), n, pools.w3, stream);
    v2 = StreamExperts(m.w2, m.host_w2, experts.data(), n, pools.w2, stream);
    const auto t1 = std::chrono::steady_clock::now();
    stream.Synchronize();
    const double took = SecondsSince(t0);
    if (took < copies) {
      copies = took;
      queued = std::chrono::duration<double>(t1 - t0).count();
    }
  }
  // The device's products of the same experts, now in the pools: on kRowsMeasured rows each and
  // on one, a line as the CPU's below.
  const forward::RoutedExpertsCost device =
      forward::CostLine(DeviceProducts(v1, v3, v2, experts, 1, s, stream),
                        DeviceProducts(v1, v3, v2, experts, forward::kRowsMeasured, s, stream), n);
  costs.device_seconds = device.expert_seconds;
  costs.device_slot_seconds = device.slot_seconds;
  // The CPU's products of the same experts (forward/routed_experts_cost.h).
  const forward::RoutedExpertsCost cpu =
      forward::MeasureRoutedExpertsCost(m.host_experts, experts, s.dim);
  costs.copy_seconds = copies / static_cast<double>(n);
  // Queueing asynchronous copies takes microseconds; staged ones take about as long as the copies.
  costs.copies_hold_the_host = queued > 0.5 * copies;
  costs.cpu_seconds = cpu.expert_seconds;
  costs.cpu_slot_seconds = cpu.slot_seconds;
  return costs;
}

std::string DescribeExpertStreamCosts(const ExpertStreamCosts& c, int64_t expert_bytes,
                                      int64_t min_rows) {
  if (!c.measured()) {
    return "host experts' stream costs not measured: MoE calls of " + std::to_string(min_rows) +
           " rows or more stream as many as the pool holds";
  }
  char line[480];
  std::snprintf(line, sizeof line,
                "host experts: a copy to the device %.3f ms an expert (%.1f GB/s%s), the CPU "
                "%.3f ms an expert + %.3f ms a row, the device %.3f + %.3f ms; MoE calls of %lld "
                "rows or more stream their most-chosen host experts, a pool-full at a time, "
                "while that ends the call sooner",
                c.copy_seconds * 1e3, static_cast<double>(expert_bytes) / c.copy_seconds / 1e9,
                c.copies_hold_the_host ? ", holding the host: pageable" : "", c.cpu_seconds * 1e3,
                c.cpu_slot_seconds * 1e3, c.device_seconds * 1e3, c.device_slot_seconds * 1e3,
                static_cast<long long>(min_rows));
  return line;
}

}  // namespace dsagent::engine::kernels::cuda
