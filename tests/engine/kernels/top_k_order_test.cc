// The top-k selection the MoE router and the lightning indexer share (cpu/top_k_order.h, through
// Ops::StableTopK and Ops::MoeRoute too): with (score descending, index ascending) as a total order
// it gives exactly the prefix of a stable sort by descending score, which is what the router and
// the indexer computed with std::stable_sort before. The reference here is that stable sort, on
// scores with many ties (few distinct levels, signed zeros) and k below, at and above n.
#include "engine/kernels/cpu/top_k_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/ops.h"

namespace dsagent::engine::kernels::top_k_order_test {
namespace {

class TopKOrderTest : public ::testing::Test {
 protected:
  cpu::ThreadPool pool_{2};
  cpu::CpuOps ops_{pool_};
  std::mt19937 rng_{1234};
};

// ---- top-k: the prefix of a stable sort, without one ---------------------------------------

// The reference: indices stably sorted by descending score (what the router and the indexer did
// with std::stable_sort before), cut to k.
std::vector<int32_t> StableSortedPrefix(const std::vector<float>& score, int64_t k) {
  std::vector<int32_t> order(score.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return score[a] > score[b]; });
  order.resize(static_cast<size_t>(std::min<int64_t>(k, static_cast<int64_t>(order.size()))));
  return order;
}

// Scores with many equal values: few levels, signed zeros, and runs of ties at the k-th place.
std::vector<float> TiedScores(int64_t n, int levels, std::mt19937& rng) {
  std::uniform_int_distribution<int> level(0, levels - 1);
  std::vector<float> s(static_cast<size_t>(n));
  for (float& v : s) v = static_cast<float>(level(rng)) * 0.25f - 1.0f;
  for (size_t i = 0; i < s.size(); i += 7) s[i] = (i / 7) % 2 ? 0.0f : -0.0f;
  return s;
}

TEST_F(TopKOrderTest, TopKOrderEqualsAStableSortsPrefixOnTies) {
  for (const int64_t n : {1LL, 2LL, 9LL, 256LL, 1000LL, 4099LL}) {
    for (const int levels : {1, 2, 5, 1000}) {
      const std::vector<float> score = TiedScores(n, levels, rng_);
      for (const int64_t k : {0LL, 1LL, 6LL, 8LL, 255LL, 512LL, 2048LL, 5000LL}) {
        std::vector<int32_t> order(static_cast<size_t>(n), -1);
        const int64_t count = cpu::TopKOrder(score.data(), n, k, order.data());
        const std::vector<int32_t> want = StableSortedPrefix(score, k);
        ASSERT_EQ(count, static_cast<int64_t>(want.size()));
        for (int64_t j = 0; j < count; ++j) {
          ASSERT_EQ(order[static_cast<size_t>(j)], want[static_cast<size_t>(j)])
              << "n " << n << " levels " << levels << " k " << k << " j " << j;
        }
      }
    }
  }
}

TEST_F(TopKOrderTest, StableTopKAndTheRouterPickTheStableSortsPrefixOnTies) {
  // The indexer's top-k through the op.
  const int64_t n = 3000;
  const std::vector<float> score = TiedScores(n, 3, rng_);
  for (const int64_t k : {1LL, 512LL, 2999LL, 3000LL, 4096LL}) {
    std::vector<int32_t> out(static_cast<size_t>(std::min(k, n)));
    ASSERT_EQ(ops_.StableTopK(F32Rows(score.data(), 1, n), k, out.data()), std::min(k, n));
    EXPECT_EQ(out, StableSortedPrefix(score, k)) << "k " << k;
  }
  // The router: sigmoid scores of equal logits tie, and so do their fp32 sums with a zero bias.
  const int64_t rows = 3, experts = 256, k = 8;
  std::vector<float> logits(static_cast<size_t>(rows * experts));
  std::uniform_int_distribution<int> level(0, 2);
  for (float& v : logits) v = static_cast<float>(level(rng_));
  const std::vector<float> bias(experts, 0.0f);
  std::vector<float> scores = logits, weights(static_cast<size_t>(rows * k));
  std::vector<int32_t> ids(static_cast<size_t>(rows * k));
  ops_.MoeRoute(F32Rows(scores.data(), rows, experts),
                RouterShape{experts, k, ScoreFunc::kSigmoid, 1.0f}, bias.data(), nullptr,
                ids.data(), weights.data());
  for (int64_t t = 0; t < rows; ++t) {
    const std::vector<float> row(scores.begin() + t * experts, scores.begin() + (t + 1) * experts);
    const std::vector<int32_t> want = StableSortedPrefix(row, k);
    const std::vector<int32_t> got(ids.begin() + t * k, ids.begin() + (t + 1) * k);
    EXPECT_EQ(got, want) << "row " << t;
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::top_k_order_test
