#include "engine/kernels/cuda/expert_stream_costs.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <vector>

#include "engine/kernels/cuda/expert_stream.h"

namespace dsagent::engine::kernels::cuda {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The least of `runs` timings of `work`, in seconds.
template <class Work>
double BestOf(int runs, const Work& work) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    work();
    best = std::min(best, SecondsSince(t0));
  }
  return best;
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
  // The CPU's products: each expert on one row, then on kMeasuredRows rows (inputs of FP8 values;
  // the kernels' time does not depend on them).
  std::vector<float> xq(static_cast<size_t>(kMeasuredRows * s.dim), 0.5f);
  std::vector<int32_t> ids;
  std::vector<int64_t> rows;
  for (const int32_t e : experts) {
    for (int64_t r = 0; r < kMeasuredRows; ++r) {
      ids.push_back(e);
      rows.push_back(r);
    }
  }
  const auto slots = static_cast<int64_t>(ids.size());
  std::vector<float> weights(static_cast<size_t>(slots), 1.0f / static_cast<float>(slots));
  std::vector<float> out(static_cast<size_t>(slots * s.dim));
  const auto on_rows = [&] {
    m.host_experts(xq.data(), rows.data(), ids.data(), weights.data(), slots, out.data());
  };
  on_rows();  // warm-up: the calling thread's buffers, the pool's threads
  const double many = BestOf(2, on_rows);
  const double one = BestOf(2, [&] {
    m.host_experts(xq.data(), nullptr, experts.data(), weights.data(), n, out.data());
  });
  const double per = 1.0 / static_cast<double>(n);
  costs.copy_seconds = copies * per;
  // Queueing asynchronous copies takes microseconds; staged ones take about as long as the copies.
  costs.copies_hold_the_host = queued > 0.5 * copies;
  costs.cpu_slot_seconds =
      std::max(0.0, (many - one) * per / static_cast<double>(kMeasuredRows - 1));
  costs.cpu_seconds = std::max(0.0, one * per - costs.cpu_slot_seconds);
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
