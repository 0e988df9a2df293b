// forward::MeasureRoutedExpertsCost (the CPU's side of the GPU offload's stream choice): the calls
// it makes of the function it times, and what it gives back. Its figures themselves are times;
// bench/host_experts_bench holds them against whole calls.
#include "engine/forward/routed_experts_cost.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace dsagent::engine::forward {
namespace {

struct Call {
  bool rows_given = false;
  std::vector<int64_t> rows;
  std::vector<int32_t> ids;
  float first_input = 0;
};

TEST(RoutedExpertsCostTest, TimesTheExpertsOnManyRowsThenOnOneAndNeverGoesBelowZero) {
  const int64_t dim = 256;
  std::vector<Call> calls;
  const RoutedExpertsCall record = [&](const float* xq, const int64_t* rows, const int32_t* ids,
                                       const float* weights, int64_t n, float* out) {
    Call c;
    c.rows_given = rows != nullptr;
    if (rows != nullptr) c.rows.assign(rows, rows + n);
    c.ids.assign(ids, ids + n);
    c.first_input = xq[0];
    for (int64_t i = 0; i < n; ++i) EXPECT_GT(weights[i], 0.0f);
    for (int64_t i = 0; i < n * dim; ++i) out[i] = 0.0f;  // all of it, as a real call writes
    calls.push_back(c);
  };
  const std::vector<int32_t> experts = {5, 9, 6};
  const RoutedExpertsCost cost = MeasureRoutedExpertsCost(record, experts, dim);
  EXPECT_GE(cost.expert_seconds, 0);
  EXPECT_GE(cost.slot_seconds, 0);
  // A warm-up and two timed calls on kRowsMeasured rows an expert, then two on one row each.
  ASSERT_EQ(calls.size(), 5u);
  std::vector<int32_t> many_ids;
  std::vector<int64_t> many_rows;
  for (const int32_t e : experts) {
    for (int64_t r = 0; r < kRowsMeasured; ++r) {
      many_ids.push_back(e);
      many_rows.push_back(r);
    }
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(calls[i].rows_given) << i;
    EXPECT_EQ(calls[i].ids, many_ids) << i;
    EXPECT_EQ(calls[i].rows, many_rows) << i;
  }
  for (size_t i = 3; i < 5; ++i) {
    EXPECT_FALSE(calls[i].rows_given) << i;
    EXPECT_EQ(calls[i].ids, experts) << i;
  }
  EXPECT_EQ(calls[0].first_input, 0.5f);  // on the FP8 grid

  calls.clear();
  const RoutedExpertsCost none = MeasureRoutedExpertsCost(record, {}, dim);
  EXPECT_EQ(none.expert_seconds, 0);
  EXPECT_EQ(none.slot_seconds, 0);
  EXPECT_TRUE(calls.empty());
}

TEST(RoutedExpertsCostTest, TheLineGoesThroughOneRowAndManyRowsPerExpert) {
  // Two experts: 4 s on one row each, 4 + 2 x 7 x 0.5 = 11 s on kRowsMeasured (8) rows each.
  const RoutedExpertsCost line = CostLine(4.0, 11.0, 2);
  EXPECT_DOUBLE_EQ(line.slot_seconds, 0.5);
  EXPECT_DOUBLE_EQ(line.expert_seconds, 1.5);
  // Timings noisier than the rows' cost clamp at zero rather than going below it.
  const RoutedExpertsCost noisy = CostLine(4.0, 3.0, 2);
  EXPECT_EQ(noisy.slot_seconds, 0);
  EXPECT_DOUBLE_EQ(noisy.expert_seconds, 2.0);
  EXPECT_EQ(CostLine(4.0, 11.0, 0).expert_seconds, 0);
}

}  // namespace
}  // namespace dsagent::engine::forward
