#include "engine/generate/prefix_cache.h"

#include <gtest/gtest.h>

namespace dsagent::engine {
namespace {

forward::SequenceState StateAt(int64_t pos, size_t payload = 10) {
  forward::SequenceState s;
  s.pos = pos;
  s.layers.resize(1);
  s.layers[0].window.assign(payload, static_cast<uint16_t>(pos));
  return s;
}

TEST(InMemoryPrefixCacheTest, LongestStoredPrefixWithinTheLimit) {
  InMemoryPrefixCache cache;
  cache.Store(std::vector<int32_t>{1, 2}, StateAt(2));
  cache.Store(std::vector<int32_t>{1, 2, 3, 4}, StateAt(4));
  cache.Store(std::vector<int32_t>{1, 9, 9}, StateAt(3));
  const std::vector<int32_t> query = {1, 2, 3, 4, 5};
  auto hit = cache.LongestPrefix(query, 4);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->tokens, 4);
  EXPECT_EQ(hit->state.pos, 4);
  EXPECT_EQ(hit->state.layers[0].window[0], 4);
  hit = cache.LongestPrefix(query, 3);  // {1,2,3,4} is too long now
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->tokens, 2);
  EXPECT_FALSE(cache.LongestPrefix(std::vector<int32_t>{2, 1}, 5));
  EXPECT_FALSE(cache.LongestPrefix(std::vector<int32_t>{1}, 5));  // keys longer than the query
}

TEST(InMemoryPrefixCacheTest, MismatchedStateAndKeyAreIgnored) {
  InMemoryPrefixCache cache;
  cache.Store(std::vector<int32_t>{1, 2, 3}, StateAt(2));
  EXPECT_EQ(cache.entries(), 0);
}

TEST(InMemoryPrefixCacheTest, EvictsLeastRecentlyUsed) {
  InMemoryPrefixCache cache({.max_entries = 2});
  cache.Store(std::vector<int32_t>{1}, StateAt(1));
  cache.Store(std::vector<int32_t>{2}, StateAt(1));
  ASSERT_TRUE(cache.LongestPrefix(std::vector<int32_t>{1, 0}, 1));  // {1} is now the newest
  cache.Store(std::vector<int32_t>{3}, StateAt(1));
  EXPECT_EQ(cache.entries(), 2);
  EXPECT_TRUE(cache.LongestPrefix(std::vector<int32_t>{1, 0}, 1));
  EXPECT_FALSE(cache.LongestPrefix(std::vector<int32_t>{2, 0}, 1));
}

TEST(InMemoryPrefixCacheTest, ByteBudget) {
  const int64_t one = StateBytes(StateAt(1, 100));
  EXPECT_EQ(one, 200);
  InMemoryPrefixCache cache({.max_entries = 10, .max_bytes = 2 * one});
  for (int32_t k = 0; k < 5; ++k) cache.Store(std::vector<int32_t>{k}, StateAt(1, 100));
  EXPECT_EQ(cache.entries(), 2);
  EXPECT_EQ(cache.bytes(), 2 * one);
  cache.Store(std::vector<int32_t>{7}, StateAt(1, 1000));  // larger than the whole budget
  EXPECT_EQ(cache.entries(), 2);
}

TEST(TieredPrefixCacheTest, LongerHitWinsAndStoresReachBoth) {
  InMemoryPrefixCache fast, slow;
  TieredPrefixCache both(fast, slow);
  slow.Store(std::vector<int32_t>{1, 2, 3}, StateAt(3));
  fast.Store(std::vector<int32_t>{1}, StateAt(1));
  const std::vector<int32_t> query = {1, 2, 3, 4};
  auto hit = both.LongestPrefix(query, 3);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->tokens, 3);
  both.Store(std::vector<int32_t>{7, 8}, StateAt(2));
  EXPECT_EQ(fast.entries(), 2);
  EXPECT_EQ(slow.entries(), 2);
  EXPECT_EQ(both.alignment_tokens(), 1);
}

}  // namespace
}  // namespace dsagent::engine
