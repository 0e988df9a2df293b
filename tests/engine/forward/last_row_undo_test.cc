#include "engine/forward/last_row_undo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "engine/forward/model.h"

namespace dsagent::engine::forward {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kData = fs::path(DSAGENT_SOURCE_DIR) / "tests/data";

std::vector<int32_t> Tokens(int n) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11) % 509);
  return t;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void ExpectSameState(const SequenceState& got, const SequenceState& want, int64_t step) {
  ASSERT_EQ(got.pos, want.pos) << "step " << step;
  ASSERT_EQ(got.layers.size(), want.layers.size());
  for (size_t i = 0; i < got.layers.size(); ++i) {
    const LayerState &g = got.layers[i], &w = want.layers[i];
    EXPECT_EQ(g.window, w.window) << "step " << step << " layer " << i;
    EXPECT_EQ(g.compressed, w.compressed) << "step " << step << " layer " << i;
    EXPECT_EQ(g.index_keys, w.index_keys) << "step " << step << " layer " << i;
    EXPECT_TRUE(SameBits(g.kv_compressor.kv, w.kv_compressor.kv)) << "step " << step;
    EXPECT_TRUE(SameBits(g.kv_compressor.score, w.kv_compressor.score)) << "step " << step;
    EXPECT_TRUE(SameBits(g.index_compressor.kv, w.index_compressor.kv)) << "step " << step;
    EXPECT_TRUE(SameBits(g.index_compressor.score, w.index_compressor.score)) << "step " << step;
    EXPECT_FALSE(g.kv_compressor.keep_before_pool);
    EXPECT_TRUE(g.kv_compressor.kv_before_pool.empty());
  }
}

// Speculative decoding's premise and its undo, on both golden checkpoints (window 16 / 8,
// compress ratios 4, 8 and 16, so the steps cross window wraps and every kind of block
// boundary): a forward call over [token, draft] gives the token's logits bit for bit as a call
// over [token] alone, and taking the draft's row back leaves exactly the state that call leaves.
TEST(LastRowUndoTest, TwoRowsThenTakeBackEqualsOneRow) {
  for (const char* set : {"v4-tiny", "v4-tiny-c"}) {
    auto model = Model::Load(kData / set, {.threads = 2});
    ASSERT_TRUE(model) << model.error();
    const int64_t vocab = (*model)->config().vocab_size;
    const std::vector<int32_t> tokens = Tokens(80);
    SequenceState state = (*model)->NewSequence();
    ASSERT_TRUE((*model)->Forward(state, std::span(tokens).first(13)));
    for (int64_t q = 13; q + 1 < static_cast<int64_t>(tokens.size()); ++q) {
      SequenceState plain = state;
      const int32_t one[1] = {tokens[q]};
      auto want = (*model)->Forward(plain, one);
      ASSERT_TRUE(want);

      const int32_t draft = (tokens[q] * 7 + 3) % 509;  // any token: the undo must not care
      const int32_t two[2] = {tokens[q], draft};
      ForwardTrace trace;
      trace.undoable_last_row = true;
      auto got = (*model)->Forward(state, two, &trace);
      ASSERT_TRUE(got);
      ASSERT_EQ(got->size(), static_cast<size_t>(2 * vocab));
      EXPECT_EQ(std::memcmp(got->data(), want->data(), vocab * sizeof(float)), 0)
          << set << " step " << q;
      ASSERT_TRUE((*model)->TakeBackLastRow(state, trace.undo));
      ExpectSameState(state, plain, q);
      EXPECT_THAT((*model)->TakeBackLastRow(state, trace.undo).error(),
                  HasSubstr("cannot take back position"));
    }
  }
}

}  // namespace
}  // namespace dsagent::engine::forward
