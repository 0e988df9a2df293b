#include "engine/kernels/cuda/expert_stream_costs.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <vector>

#include "engine/forward/routed_experts_cost.h"
#include "engine/kernels/cuda/expert_stream.h"

namespace dsagent::engine::kernels::cuda {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ExpertStreamCosts MeasureExpertStreamCosts(DeviceMoe& m, CudaStream& stream) {
  ExpertStreamCosts costs;
  if (m.stream_pools == nullptr || !m.host_experts) return costs;
  ExpertStreamPools& pools = *m.stream_pools;
  const MoeShape& s = m.shape;
  const int64_t n = std::min({kMeasuredExperts, s.route.experts - m.on_device, pools.w1.capacity});
  if (n <= 0) return costs;
  std::vector<int32_t> experts(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    experts[static_cast<size_t>(i)] = static_cast<int32_t>(m.on_device + i);
  }
  // The best of three runs: its whole time, and the host's time to queue its copies.
  double copies = std::numeric_limits<double>::infinity(), queued = 0;
  for (int run = 0; run < 3; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    StreamExperts(m.w1, m.host_w1, experts.data(), n, pools.w1, stream);
    StreamExperts(m.w3, m.host_w3, experts.data(), n, pools.w3, stream);
    StreamExperts(m.w2, m.host_w2, experts.data(), n, pools.w2, stream);
    const auto t1 = std::chrono::steady_clock::now();
    stream.Synchronize();
    const double took = SecondsSince(t0);
    if (took < copies) {
      copies = took;
      queued = std::chrono::duration<double>(t1 - t0).count();
    }
  }
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
  char line[400];
  std::snprintf(line, sizeof line,
                "host experts: a copy to the device %.3f ms an expert (%.1f GB/s%s), the CPU "
                "%.3f ms an expert + %.3f ms a row; MoE calls of %lld rows or more stream their "
                "most-chosen host experts, a pool-full at a time, while that ends the call "
                "sooner",
                c.copy_seconds * 1e3, static_cast<double>(expert_bytes) / c.copy_seconds / 1e9,
                c.copies_hold_the_host ? ", holding the host: pageable" : "", c.cpu_seconds * 1e3,
                c.cpu_slot_seconds * 1e3, static_cast<long long>(min_rows));
  return line;
}

}  // namespace dsagent::engine::kernels::cuda
