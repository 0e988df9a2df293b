// A MoE layer's random weights on the host, for the tests of the CPU MoE and its CUDA twin
// (tests/engine/kernels/cuda_forward_ops_test.cc, tests/engine/forward/routed_experts_test.cc).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/forward/model_weights.h"
#include "engine/forward/numerics.h"
#include "engine/model/model_config.h"
#include "tests/engine/kernels/random_weights.h"

namespace dsagent::engine::kernels::testing {

// n bf16 values from a normal distribution.
inline std::vector<float> RandomMoeBf16(size_t n, std::mt19937& rng, float sigma) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = forward::RoundBf16(normal(rng));
  return v;
}

// A MoE layer's random weights on the host (filled in place: the views point into `storage`,
// tid2eid into `table64`). The hash table routes every third token's first two slots to one
// expert.
struct HostMoe {
  std::vector<RandomWeight> storage;
  std::vector<int64_t> table64;
  TensorInfo tid2eid;
  forward::MoeWeights w;
};
inline void MakeMoe(const ModelConfig& c, bool hash, int64_t vocab, std::mt19937& rng, HostMoe& m) {
  const int64_t inter = c.moe_inter_dim, k = c.n_activated_experts;
  const auto weight = [&](WeightFormat f, int64_t rows, int64_t cols) {
    m.storage.push_back(MakeWeight(f, rows, cols, rng));
    return m.storage.back().matrix;
  };
  forward::MoeWeights& w = m.w;
  w.hash = hash;
  w.gate = weight(WeightFormat::kBF16, c.n_routed_experts, c.dim);
  w.bias = RandomMoeBf16(static_cast<size_t>(c.n_routed_experts), rng, 0.1f);
  for (int e = 0; e < c.n_routed_experts; ++e) {
    w.experts.push_back({weight(WeightFormat::kFP8, inter, c.dim),
                         weight(WeightFormat::kFP8, c.dim, inter),
                         weight(WeightFormat::kFP8, inter, c.dim)});
  }
  w.shared = {weight(WeightFormat::kFP8, inter, c.dim), weight(WeightFormat::kFP8, c.dim, inter),
              weight(WeightFormat::kFP8, inter, c.dim)};
  m.table64.resize(static_cast<size_t>(vocab * k));
  std::uniform_int_distribution<int> expert(0, c.n_routed_experts - 1);
  for (int64_t& id : m.table64) id = expert(rng);
  for (int64_t t = 0; t < vocab; t += 3) {
    m.table64[static_cast<size_t>(t * k + 1)] = m.table64[static_cast<size_t>(t * k)];
  }
  m.tid2eid.dtype = DType::kI64;
  m.tid2eid.shape = {vocab, k};
  m.tid2eid.data = reinterpret_cast<const uint8_t*>(m.table64.data());
  m.tid2eid.size_bytes = m.table64.size() * 8;
  if (hash) w.tid2eid = &m.tid2eid;
}
}  // namespace dsagent::engine::kernels::testing
