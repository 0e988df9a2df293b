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
      RoutedExpertsForward(m.w, c, xq.data(), nullptr, ids.data(), weights.data(), k, routed.data(),
                           cx);
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

// A prompt chunk's host slots in one call (each expert once over the rows that chose it) give
// each slot the bits of its row's own call, in both numerics: rows sharing experts, an expert
// chosen twice by one row, slots in no particular order, an id outside the experts (zeros).
TEST(RoutedExpertsForwardTest, ManyRowsSlotsInOneCallGiveEachRowsOwnBits) {
  const ModelConfig c = SmallMoeConfig();
  ThreadPool pool(2);
  const kernels::cpu::CpuOps ops(pool);
  std::mt19937 rng(11);
  for (const Numerics numerics : {Numerics::kFast, Numerics::kExact}) {
    const Compute cx{pool, numerics, ops};
    kernels::testing::HostMoe m;
    kernels::testing::MakeMoe(c, false, 1, rng, m);
    const int64_t rows = 12, dim = c.dim;
    std::vector<float> xq =
        kernels::testing::RandomMoeBf16(static_cast<size_t>(rows * dim), rng, 1.0f);
    cx.ops.ActQuantFp8(kernels::F32Rows(xq.data(), rows, dim), 128);
    std::vector<int64_t> slot_rows;
    std::vector<int32_t> ids;
    std::vector<float> weights;
    std::uniform_int_distribution<int> expert(0, static_cast<int>(c.n_routed_experts) - 1);
    std::uniform_real_distribution<float> weight(0.05f, 1.0f);
    for (int64_t t = rows - 1; t >= 0; --t) {  // rows from last to first
      for (int j = 0; j < 4; ++j) {
        slot_rows.push_back(t);
        ids.push_back(j == 3 && t % 5 == 0 ? ids.back() : expert(rng));  // twice to one expert
        weights.push_back(weight(rng));
      }
    }
    slot_rows.push_back(3);
    ids.push_back(static_cast<int32_t>(c.n_routed_experts));  // outside the experts
    weights.push_back(0.5f);
    const auto n = static_cast<int64_t>(ids.size());
    std::vector<float> all(static_cast<size_t>(n * dim), -1.0f);
    RoutedExpertsForward(m.w, c, xq.data(), slot_rows.data(), ids.data(), weights.data(), n,
                         all.data(), cx);
    for (int64_t j = 0; j < n; ++j) {
      std::vector<float> one(static_cast<size_t>(dim), -1.0f);
      RoutedExpertsForward(m.w, c, xq.data() + slot_rows[j] * dim, nullptr, &ids[j], &weights[j], 1,
                           one.data(), cx);
      bool nonzero = false;
      for (int64_t i = 0; i < dim; ++i) {
        const float got = all[static_cast<size_t>(j * dim + i)];
        nonzero |= got != 0.0f;
        uint32_t a, b;
        std::memcpy(&a, &got, 4);
        std::memcpy(&b, &one[static_cast<size_t>(i)], 4);
        ASSERT_EQ(a, b) << "slot " << j << " (row " << slot_rows[j] << ", expert " << ids[j]
                        << ") value " << i;
      }
      EXPECT_EQ(nonzero, ids[j] < c.n_routed_experts) << "slot " << j;
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
  RoutedExpertsForward(m.w, c, xq.data(), nullptr, ids.data(), weights.data(), 3, out.data(), cx);
  bool any_nonzero = false;
  for (int64_t i = 0; i < c.dim; ++i) any_nonzero |= out[static_cast<size_t>(i)] != 0.0f;
  EXPECT_TRUE(any_nonzero) << "expert 2's row";
  for (int64_t i = c.dim; i < 3 * c.dim; ++i) ASSERT_EQ(out[static_cast<size_t>(i)], 0.0f) << i;
}

}  // namespace
}  // namespace dsagent::engine::forward
