// Which routed experts kept in host memory a MoE call over many rows streams to the device
// (moe_step.h MoeRows, ops.h ExpertStreamPool): of the experts its slots chose that are on the
// host (ids >= on_device), those chosen by the most slots first (each streamed expert saves the
// CPU one product per slot), ties by expert index, at most `capacity` and, once the costs are
// measured (expert_stream_costs.h), only as many as end the call soonest; the rest stay with the
// CPU kernels. Pure host code, tested in
// tests/engine/kernels/cuda_expert_stream_choice_test.cc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace dsagent::engine::kernels::cuda {

// What a host expert costs a MoE call each way, in seconds, measured once per model at load
// (expert_stream_costs.h MeasureExpertStreamCosts). All zero: not measured.
struct ExpertStreamCosts {
  double copy_seconds = 0;      // one expert's three weights into the pool (StreamExperts)
  double cpu_seconds = 0;       // the CPU's cost of an expert in a call, whatever its slots
  double cpu_slot_seconds = 0;  // and of each slot (row) that chose it
  // The same for the device's products (0 where not measured: left out of the balance).
  double device_seconds = 0, device_slot_seconds = 0;
  // Whether queueing the copies kept the host until they were done (pageable host experts: the
  // driver stages them), so that the CPU's products start after them rather than beside them.
  bool copies_hold_the_host = false;
  bool measured() const { return copy_seconds > 0 && cpu_seconds + cpu_slot_seconds > 0; }
};

// How many of a call's chosen host experts to stream, given how many slots chose each (`uses`,
// most first) and the device's time for the call's experts on the device (`device_base`
// seconds): the n <= capacity for which the call ends soonest, the smaller n on a tie. The device
// copies the n experts, then computes its own and theirs (every expert product of the call waits
// for the copies), while the host computes the others: max(copies + device, CPU), or, where the
// copies hold the host, copies + max(device, CPU). An expert chosen by many slots costs the CPU
// most and the copy no more, so it goes first.
inline int64_t BalancedStreamCount(const std::vector<int64_t>& uses, int64_t capacity,
                                   const ExpertStreamCosts& costs, double device_base = 0) {
  const auto cpu = [&](int64_t u) {
    return costs.cpu_seconds + static_cast<double>(u) * costs.cpu_slot_seconds;
  };
  const auto on_device = [&](int64_t u) {
    return costs.device_seconds + static_cast<double>(u) * costs.device_slot_seconds;
  };
  double cpu_left = 0, device = device_base;
  for (const int64_t u : uses) cpu_left += cpu(u);
  const int64_t most = std::min<int64_t>(capacity, static_cast<int64_t>(uses.size()));
  int64_t best = 0;
  double best_seconds = std::max(device, cpu_left);
  for (int64_t n = 1; n <= most; ++n) {
    const int64_t u = uses[static_cast<size_t>(n - 1)];
    cpu_left -= cpu(u);
    device += on_device(u);
    const double copies = static_cast<double>(n) * costs.copy_seconds;
    const double seconds = costs.copies_hold_the_host ? copies + std::max(device, cpu_left)
                                                      : std::max(copies + device, cpu_left);
    // Better by more than the sums' rounding: a tie keeps the smaller n.
    if (seconds < best_seconds * (1 - 1e-9)) {
      best = n;
      best_seconds = seconds;
    }
  }
  return best;
}

// ids [slots] (each in [0, experts)): the experts to stream, most-chosen first. `streamed`
// [experts] comes back 1 for them and 0 elsewhere (the CPU then takes the host slots whose expert
// is 0 there). `costs` (measured: BalancedStreamCount) or none (up to `capacity`).
inline std::vector<int32_t> ChooseStreamedExperts(const int32_t* ids, int64_t slots,
                                                  int64_t on_device, int64_t experts,
                                                  int64_t capacity, std::vector<uint8_t>& streamed,
                                                  const ExpertStreamCosts* costs = nullptr) {
  streamed.assign(static_cast<size_t>(std::max<int64_t>(experts, 0)), 0);
  std::vector<int64_t> uses(streamed.size(), 0);
  for (int64_t s = 0; s < slots; ++s) {
    const int32_t e = ids[s];
    if (e >= on_device && e < experts) ++uses[static_cast<size_t>(e)];
  }
  std::vector<int32_t> chosen;
  for (int64_t e = on_device; e < experts; ++e) {
    if (uses[static_cast<size_t>(e)] > 0) chosen.push_back(static_cast<int32_t>(e));
  }
  std::stable_sort(chosen.begin(), chosen.end(), [&](int32_t a, int32_t b) {
    return uses[static_cast<size_t>(a)] > uses[static_cast<size_t>(b)];
  });
  int64_t take =
      std::min<int64_t>(std::max<int64_t>(capacity, 0), static_cast<int64_t>(chosen.size()));
  if (costs != nullptr && costs->measured()) {
    std::vector<int64_t> chosen_uses;
    chosen_uses.reserve(chosen.size());
    for (const int32_t e : chosen) chosen_uses.push_back(uses[static_cast<size_t>(e)]);
    // The device's own experts this call: each chosen one, and each of their slots.
    std::vector<uint8_t> device_chosen(static_cast<size_t>(std::max<int64_t>(on_device, 0)), 0);
    double device_base = 0;
    for (int64_t s = 0; s < slots; ++s) {
      const int32_t e = ids[s];
      if (e < 0 || e >= on_device) continue;
      device_base += costs->device_slot_seconds;
      if (!device_chosen[static_cast<size_t>(e)]) {
        device_chosen[static_cast<size_t>(e)] = 1;
        device_base += costs->device_seconds;
      }
    }
    take = BalancedStreamCount(chosen_uses, take, *costs, device_base);
  }
  chosen.resize(static_cast<size_t>(take));
  for (const int32_t e : chosen) streamed[static_cast<size_t>(e)] = 1;
  return chosen;
}

}  // namespace dsagent::engine::kernels::cuda
