// Which routed experts kept in host memory a MoE call over many rows streams to the device
// (moe_step.h MoeRows, ops.h ExpertStreamPool): of the experts its slots chose that are on the
// host (ids >= on_device), those chosen by the most slots first (each streamed expert saves the
// CPU one product per slot), ties by expert index, at most `capacity`; the rest stay with the CPU
// kernels. Pure host code, tested in tests/engine/kernels/cuda_expert_stream_choice_test.cc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace dsagent::engine::kernels::cuda {

// ids [slots] (each in [0, experts)): the experts to stream, most-chosen first. `streamed`
// [experts] comes back 1 for them and 0 elsewhere (the CPU then takes the host slots whose expert
// is 0 there).
inline std::vector<int32_t> ChooseStreamedExperts(const int32_t* ids, int64_t slots,
                                                  int64_t on_device, int64_t experts,
                                                  int64_t capacity,
                                                  std::vector<uint8_t>& streamed) {
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
  if (static_cast<int64_t>(chosen.size()) > capacity) {
    chosen.resize(static_cast<size_t>(std::max<int64_t>(capacity, 0)));
  }
  for (const int32_t e : chosen) streamed[static_cast<size_t>(e)] = 1;
  return chosen;
}

}  // namespace dsagent::engine::kernels::cuda
