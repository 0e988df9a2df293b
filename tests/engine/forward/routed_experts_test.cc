// forward::RoutedExpertsForward (the routed experts the GPU's expert offload computes on the
// host) against MoeForward: the token's slots from it, combined the way MoeForward combines, give
// MoeForward's bits. The shared expert's w2 is zeroed so its output adds exact zeros.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "engine/forward/compute.h"
#include "engine/forward/linear.h"
#include "engine/forward/moe.h"
#include "engine/forward/thread_pool.h"
#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/model/model_config.h"
#include "tests/engine/kernels/random_moe.h"

namespace dsagent::engine::forward {
namespace {

ModelConfig SmallMoeConfig() {
  ModelConfig c;
  c.dim = 256;
  c.n_routed_experts = 8;
  c.n_activated_experts = 3;
  c.moe_inter_dim = 128;
  c.score_func = "sqrtsoftplus";
  c.route_scale = 1.5;
  c.swiglu_limit = 10.0;
  return c;
}

TEST(RoutedExpertsForwardTest, SlotsCombinedGiveMoeForwardsBits) {
  const ModelConfig c = SmallMoeConfig();
  ThreadPool pool(2);
  const kernels::cpu::CpuOps ops(pool);
  std::mt19937 rng(7);
  for (const Numerics numerics : {Numerics::kFast, Numerics::kExact}) {
    const Compute cx{pool, numerics, ops};
    kernels::testing::HostMoe m;
    kernels::testing::MakeMoe(c, false, 1, rng, m);
    // The shared expert's w2 all zeros: its output is +0.
    auto& shared_w2 = m.storage[m.storage.size() - 2];  // ... shared w1, w2, w3
    std::fill(shared_w2.data.begin(), shared_w2.data.end(), uint8_t{0});
    const int64_t k = c.n_activated_experts, dim = c.dim;
    for (int t = 0; t < 6; ++t) {
      const auto x = kernels::testing::RandomMoeBf16(static_cast<size_t>(dim), rng, 1.0f);
      const int32_t token = 0;
      std::vector<float> want(static_cast<size_t>(dim));
      MoeForward(m.w, c, x.data(), &token, 1, want.data(), cx);

      // MoeForward's router and input quantisation, done here by the same public pieces.
      std::vector<float> scores(static_cast<size_t>(c.n_routed_experts));
      Linear(m.w.gate, x.data(), 1, scores.data(), InputQuant::kNone, Round::kF32, cx.Exact());
      RouterShape shape;
      shape.experts = c.n_routed_experts;
      shape.k = k;
      shape.func = ScoreFuncOf(c.score_func);
      shape.route_scale = static_cast<float>(c.route_scale);
      std::vector<int32_t> ids(static_cast<size_t>(k));
      std::vector<float> weights(static_cast<size_t>(k));
      cx.ops.MoeRoute(kernels::F32Rows(scores.data(), 1, c.n_routed_experts), shape,
                      m.w.bias.data(), nullptr, ids.data(), weights.data());
      std::vector<float> xq = x;
      cx.ops.ActQuantFp8(kernels::F32Rows(xq.data(), 1, dim), 128);

      std::vector<float> routed(static_cast<size_t>(k * dim), -1.0f);
      RoutedExpertsForward(m.w, c, xq.data(), ids.data(), weights.data(), k, routed.data(), cx);
      const std::vector<float> shared(static_cast<size_t>(dim), 0.0f);
      std::vector<float> got(static_cast<size_t>(dim));
      cx.ops.CombineExperts(kernels::F32Rows(routed.data(), k, dim),
                            kernels::F32Rows(shared.data(), 1, dim), ids.data(), k,
                            kernels::F32Rows(got.data(), 1, dim));
      for (int64_t i = 0; i < dim; ++i) {
        uint32_t a, b;
        std::memcpy(&a, &got[static_cast<size_t>(i)], 4);
        std::memcpy(&b, &want[static_cast<size_t>(i)], 4);
        ASSERT_EQ(a, b) << "token " << t << " value " << i;
      }
    }
  }
}

// An id outside the experts (a hostile tid2eid) gives a zero row, as MoeForward's slot.
TEST(RoutedExpertsForwardTest, AnIdOutsideTheExpertsGivesZeros) {
  const ModelConfig c = SmallMoeConfig();
  ThreadPool pool(1);
  const kernels::cpu::CpuOps ops(pool);
  const Compute cx{pool, Numerics::kFast, ops};
  std::mt19937 rng(9);
  kernels::testing::HostMoe m;
  kernels::testing::MakeMoe(c, false, 1, rng, m);
  std::vector<float> xq = kernels::testing::RandomMoeBf16(static_cast<size_t>(c.dim), rng, 1.0f);
  cx.ops.ActQuantFp8(kernels::F32Rows(xq.data(), 1, c.dim), 128);
  const std::vector<int32_t> ids = {2, -1, static_cast<int32_t>(c.n_routed_experts)};
  const std::vector<float> weights = {0.5f, 0.25f, 0.25f};
  std::vector<float> out(static_cast<size_t>(3 * c.dim), 7.0f);
  RoutedExpertsForward(m.w, c, xq.data(), ids.data(), weights.data(), 3, out.data(), cx);
  bool any_nonzero = false;
  for (int64_t i = 0; i < c.dim; ++i) any_nonzero |= out[static_cast<size_t>(i)] != 0.0f;
  EXPECT_TRUE(any_nonzero) << "expert 2's row";
  for (int64_t i = c.dim; i < 3 * c.dim; ++i) ASSERT_EQ(out[static_cast<size_t>(i)], 0.0f) << i;
}

}  // namespace
}  // namespace dsagent::engine::forward
