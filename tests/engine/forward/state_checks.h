// Bit-level comparisons of forward results and sequence states, for the tests that check that two
// ways of running the same tokens (a batch and a call alone; a draft taken back and a plain step)
// leave the same logits and the same state.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/forward/sequence_state.h"

namespace dsagent::engine::forward::testing {

inline const std::filesystem::path kForwardTestData =
    std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data";

inline bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp with an empty vector's null data() is undefined (UBSan reports it), hence the size test.
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Every buffer of `got` equals `want`'s bit for bit, and no transient undo data is left.
inline void ExpectSameState(const SequenceState& got, const SequenceState& want,
                            const std::string& at) {
  ASSERT_EQ(got.pos, want.pos) << at;
  ASSERT_EQ(got.layers.size(), want.layers.size()) << at;
  for (size_t i = 0; i < got.layers.size(); ++i) {
    const LayerState &g = got.layers[i], &w = want.layers[i];
    EXPECT_EQ(g.window, w.window) << at << " layer " << i;
    EXPECT_EQ(g.compressed, w.compressed) << at << " layer " << i;
    EXPECT_EQ(g.index_keys, w.index_keys) << at << " layer " << i;
    EXPECT_TRUE(SameBits(g.kv_compressor.kv, w.kv_compressor.kv)) << at << " layer " << i;
    EXPECT_TRUE(SameBits(g.kv_compressor.score, w.kv_compressor.score)) << at << " layer " << i;
    EXPECT_TRUE(SameBits(g.index_compressor.kv, w.index_compressor.kv)) << at << " layer " << i;
    EXPECT_TRUE(SameBits(g.index_compressor.score, w.index_compressor.score))
        << at << " layer " << i;
    EXPECT_FALSE(g.kv_compressor.keep_before_pool) << at << " layer " << i;
    EXPECT_TRUE(g.kv_compressor.kv_before_pool.empty()) << at << " layer " << i;
  }
}

}  // namespace dsagent::engine::forward::testing
