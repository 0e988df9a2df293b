#include "tests/support/prefix_cache_model.h"

#include <gtest/gtest.h>

namespace dsagent::testing {
namespace {

TEST(PrefixCacheModelTest, EstimateIsCeilingOfBytesOverFour) {
  EXPECT_EQ(EstimateTokens(0), 0);
  EXPECT_EQ(EstimateTokens(1), 1);
  EXPECT_EQ(EstimateTokens(4), 1);
  EXPECT_EQ(EstimateTokens(5), 2);
  EXPECT_EQ(PrefixTokens({"abcd", "efgh", "ij"}, 2), 2);
  EXPECT_EQ(PrefixTokens({"abcd", "efgh", "ij"}, 3), 3);
}

TEST(PrefixCacheModelTest, HitNeedsAWholePersistedUnit) {
  PrefixCacheModel cache;
  const PromptItems ab = {"tools", "A", "B"};
  EXPECT_EQ(cache.HitTokens("p", ab), 0);
  cache.Persist("p", ab);
  // A+B+C hits on A+B; A+C misses (A alone was never persisted), as in DeepSeek's docs.
  EXPECT_EQ(cache.HitTokens("p", {"tools", "A", "B", "C"}), PrefixTokens(ab, 3));
  EXPECT_EQ(cache.HitTokens("p", {"tools", "A", "C"}), 0);
  EXPECT_EQ(cache.HitTokens("p", ab), PrefixTokens(ab, 3));  // identical retry: all cached
  EXPECT_EQ(cache.HitTokens("other", ab), 0);                // partitions are separate
  cache.Persist("p", {"tools", "A"});
  EXPECT_EQ(cache.HitTokens("p", {"tools", "A", "D"}), PrefixTokens(ab, 2));
}

}  // namespace
}  // namespace dsagent::testing
