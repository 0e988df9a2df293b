#include "agent/core/cost_ledger.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {
using std::chrono::sys_days;
using namespace std::chrono;

TEST(CostLedgerTest, CostIsUsageTimesTheEffectivePrice) {
  auto catalog = ModelCatalog::Parse(R"(
models:
  m1:
    context_tokens: 1000
    max_output_tokens: 100
    prices:
      - {effective: "2026-01-01T00:00:00Z", input_cache_hit: 1.0, input_cache_miss: 10.0, output: 20.0}
      - {effective: "2026-06-01T00:00:00Z", input_cache_hit: 0.5, input_cache_miss: 5.0, output: 10.0}
)",
                                     "test");
  ASSERT_TRUE(catalog) << catalog.error();
  CostLedger ledger(*catalog);
  const Usage u{1'000'000, 100'000, 10'000, 4'000};
  const auto jan = sys_days{2026y / 2 / 1};
  const auto jul = sys_days{2026y / 7 / 1};
  EXPECT_DOUBLE_EQ(ledger.Record("m1", u, jan), 1.0 + 1.0 + 0.2);
  EXPECT_DOUBLE_EQ(ledger.Record("m1", u, jul), 0.5 + 0.5 + 0.1);
  EXPECT_DOUBLE_EQ(ledger.Record("unknown", u, jul), 0.0);
  EXPECT_DOUBLE_EQ(ledger.total_cost_usd(), 3.3);
  EXPECT_EQ(ledger.per_model().at("m1").calls, 2);
  EXPECT_TRUE(ledger.per_model().at("m1").priced);
  EXPECT_FALSE(ledger.per_model().at("unknown").priced);
  EXPECT_EQ(ledger.total_usage().input_cache_hit, 3'000'000);
}

TEST(CostLedgerTest, CacheHitRate) {
  EXPECT_DOUBLE_EQ(CacheHitRate({90, 10, 0, 0}), 0.9);
  EXPECT_DOUBLE_EQ(CacheHitRate({0, 0, 5, 0}), 0.0);
}

TEST(CostLedgerTest, BuiltInPricesMatchTheReferenceNotes) {
  // Flash after the 2026-04-26 cache-price cut: $0.0028 hit, $0.14 miss, $0.28 out per 1M.
  const auto p = ModelCatalog::BuiltIn().PriceAt("deepseek-v4-flash", sys_days{2026y / 11 / 23});
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(UsageCostUsd({1'000'000, 1'000'000, 1'000'000, 0}, *p), 0.0028 + 0.14 + 0.28);
}

}  // namespace
}  // namespace dsagent
