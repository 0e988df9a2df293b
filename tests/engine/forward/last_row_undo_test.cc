#include "engine/forward/last_row_undo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "engine/forward/model.h"
#include "tests/engine/forward/state_checks.h"

namespace dsagent::engine::forward {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

using testing::ExpectSameState;
using testing::SameBits;
const fs::path kData = testing::kForwardTestData;

std::vector<int32_t> Tokens(int n) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11) % 509);
  return t;
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
      ExpectSameState(state, plain, "step " + std::to_string(q));
      EXPECT_THAT((*model)->TakeBackLastRow(state, trace.undo).error(),
                  HasSubstr("cannot take back position"));
    }
  }
}

}  // namespace
}  // namespace dsagent::engine::forward
