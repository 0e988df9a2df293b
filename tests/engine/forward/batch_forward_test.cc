// Batched forward calls (Model::ForwardBatch, layer_chunk.h): several sequences in one call give
// each of them the logits and the state a call with that sequence alone gives, bit for bit, in
// both numerics, on both golden checkpoints (window 16 / 8, compress ratios 4, 8 and 16, so the
// steps cross window wraps and every kind of compressor block boundary). The batches mix decode
// steps of sequences at different positions with prefill chunks, one of them a fresh prefill (the
// reference's prefill layout) and one a chunk on a non-empty state.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <ostream>
#include <set>
#include <string>

#include "engine/forward/model.h"
#include "tests/engine/forward/state_checks.h"

namespace dsagent::engine::forward {
namespace {
namespace fs = std::filesystem;
using kernels::Numerics;
using ::testing::HasSubstr;

using testing::ExpectSameState;
using testing::SameBits;

std::vector<int32_t> Tokens(int n, int seed) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + seed * 101 + 11) % 509);
  return t;
}

struct Case {
  const char* model;
  Numerics numerics;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.model << " " << kernels::NumericsName(c.numerics);
}

class BatchForwardTest : public ::testing::TestWithParam<Case> {};

TEST_P(BatchForwardTest, EachSequenceGetsTheBitsOfACallWithItAlone) {
  auto loaded = Model::Load(testing::kForwardTestData / GetParam().model,
                            {.threads = 2, .numerics = GetParam().numerics});
  ASSERT_TRUE(loaded) << loaded.error();
  Model& model = **loaded;
  // Four sequences, batched and alone: a (prompt 21), b (prompt 6), c (prompt 13), d (empty: its
  // first chunk is a fresh prefill inside the batch).
  const std::vector<std::vector<int32_t>> prompts = {
      Tokens(21, 1), Tokens(6, 2), Tokens(13, 3), {}};
  const size_t n = prompts.size();
  std::vector<SequenceState> batched, alone;
  for (size_t s = 0; s < n; ++s) {
    batched.push_back(model.NewSequence());
    if (!prompts[s].empty()) {
      ASSERT_TRUE(model.Forward(batched[s], prompts[s]));
    }
    alone.push_back(batched[s]);
  }
  // Steps: per sequence how many tokens it feeds (0: it sits this step out). Rows of a step are
  // 1 (decode) or a chunk; logits wanted of every row.
  const std::vector<std::vector<int>> steps = {{1, 1, 5, 7}, {1, 1, 1, 1}, {1, 0, 3, 1},
                                               {2, 1, 1, 9}, {1, 1, 1, 1}, {1, 1, 1, 1},
                                               {1, 1, 4, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}};
  int seed = 10;
  for (size_t i = 0; i < steps.size(); ++i) {
    std::vector<std::vector<int32_t>> feed(n);
    std::vector<BatchEntry> batch;
    std::vector<size_t> who;
    for (size_t s = 0; s < n; ++s) {
      if (steps[i][s] == 0) continue;
      feed[s] = Tokens(steps[i][s], ++seed);
      batch.push_back(BatchEntry{&batched[s], feed[s], static_cast<int64_t>(feed[s].size())});
      who.push_back(s);
    }
    auto got = model.ForwardBatch(batch);
    ASSERT_TRUE(got) << got.error();
    ASSERT_EQ(got->size(), batch.size());
    for (size_t k = 0; k < who.size(); ++k) {
      const size_t s = who[k];
      auto want = model.Forward(alone[s], feed[s]);
      ASSERT_TRUE(want) << want.error();
      const std::string at = "step " + std::to_string(i) + " sequence " + std::to_string(s);
      EXPECT_TRUE(SameBits((*got)[k], *want)) << at;
      ExpectSameState(batched[s], alone[s], at);
    }
  }
}

TEST_P(BatchForwardTest, LogitsRowsSelectsEachSequencesLastRows) {
  auto loaded = Model::Load(testing::kForwardTestData / GetParam().model,
                            {.threads = 1, .numerics = GetParam().numerics});
  ASSERT_TRUE(loaded) << loaded.error();
  Model& model = **loaded;
  SequenceState a = model.NewSequence(), b = model.NewSequence();
  SequenceState a1 = a, b1 = b;
  const std::vector<int32_t> ta = Tokens(9, 4), tb = Tokens(5, 5);
  const BatchEntry batch[] = {{&a, ta, 1}, {&b, tb, 3}};
  auto got = model.ForwardBatch(batch);
  ASSERT_TRUE(got) << got.error();
  auto wa = model.ForwardLast(a1, ta);
  auto wb = model.Forward(b1, tb);
  ASSERT_TRUE(wa && wb);
  const int64_t vocab = model.config().vocab_size;
  EXPECT_TRUE(SameBits((*got)[0], *wa));
  EXPECT_TRUE(SameBits((*got)[1], std::vector<float>(wb->end() - 3 * vocab, wb->end())));
}

// The experts of token `token` in hash layer `layer` (its tid2eid row).
std::set<int64_t> HashExperts(const Model& model, int layer, int32_t token) {
  const TensorInfo& table = *model.weights().layers[static_cast<size_t>(layer)].ffn.tid2eid;
  const int64_t k = table.shape[1];
  const size_t width = table.dtype == DType::kI64 ? 8 : 4;
  std::set<int64_t> experts;
  for (int64_t j = 0; j < k; ++j) {
    const uint8_t* at = table.data + (static_cast<size_t>(token * k + j)) * width;
    if (width == 8) {
      int64_t v;
      std::memcpy(&v, at, 8);
      experts.insert(v);
    } else {
      int32_t v;
      std::memcpy(&v, at, 4);
      experts.insert(v);
    }
  }
  return experts;
}

// Four decode steps in one call whose tokens share experts (checked on the first layer, a hash
// layer, where the token alone decides them): the MoE runs each shared expert once over the rows
// of several sequences, the compressors' and the indexer's products run once over all four rows,
// and every sequence still gets the logits and state of a step alone. The sequences sit at
// different positions, so over the steps their compressor blocks complete at different times, and
// past the point where the indexer selects (more ratio-4 entries than index_topk), so each row's
// selection depends on its own indexer queries.
TEST_P(BatchForwardTest, DecodeStepsSharingExpertsGetTheBitsOfAStepAlone) {
  auto loaded = Model::Load(testing::kForwardTestData / GetParam().model,
                            {.threads = 2, .numerics = GetParam().numerics});
  ASSERT_TRUE(loaded) << loaded.error();
  Model& model = **loaded;
  ASSERT_GE(model.config().n_hash_layers, 1);
  constexpr size_t kSequences = 4;
  constexpr int kShortestPrompt = 72;
  ASSERT_GT(kShortestPrompt / 4, model.config().index_topk);
  std::vector<SequenceState> batched, alone;
  for (size_t s = 0; s < kSequences; ++s) {
    batched.push_back(model.NewSequence());
    const int length = kShortestPrompt + 5 * static_cast<int>(s);
    ASSERT_TRUE(model.Forward(batched.back(), Tokens(length, 20 + static_cast<int>(s))));
    alone.push_back(batched.back());
  }
  int32_t candidate = 3;
  for (int step = 0; step < 6; ++step) {
    // The next four distinct tokens that share an expert with another of them in layer 0 and
    // are not all routed alike.
    std::vector<int32_t> tokens;
    std::vector<std::set<int64_t>> experts;
    while (tokens.size() < kSequences && candidate < 509) {
      const int32_t t = candidate++;
      const std::set<int64_t> e = HashExperts(model, 0, t);
      bool shares = tokens.empty();
      for (const auto& other : experts) {
        for (int64_t id : e) shares = shares || other.count(id) > 0;
      }
      if (shares && (experts.empty() || e != experts.front())) {
        tokens.push_back(t);
        experts.push_back(e);
      }
    }
    ASSERT_EQ(tokens.size(), kSequences) << "no four tokens sharing experts below 509";
    std::vector<std::vector<int32_t>> feed(kSequences);
    std::vector<BatchEntry> batch;
    for (size_t s = 0; s < kSequences; ++s) {
      feed[s] = {tokens[s]};
      batch.push_back(BatchEntry{&batched[s], feed[s], 1});
    }
    auto got = model.ForwardBatch(batch);
    ASSERT_TRUE(got) << got.error();
    for (size_t s = 0; s < kSequences; ++s) {
      auto want = model.Forward(alone[s], feed[s]);
      ASSERT_TRUE(want) << want.error();
      const std::string at = "step " + std::to_string(step) + " sequence " + std::to_string(s);
      EXPECT_TRUE(SameBits((*got)[s], *want)) << at;
      ExpectSameState(batched[s], alone[s], at);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, BatchForwardTest,
                         ::testing::Values(Case{"v4-tiny", Numerics::kExact},
                                           Case{"v4-tiny", Numerics::kFast},
                                           Case{"v4-tiny-c", Numerics::kExact},
                                           Case{"v4-tiny-c", Numerics::kFast}),
                         [](const auto& p) {
                           std::string name = p.param.model;
                           for (char& ch : name) ch = ch == '-' ? '_' : ch;
                           return name + (p.param.numerics == Numerics::kFast ? "_fast" : "_exact");
                         });

// Bad batches are refused before anything runs: every state is left as it was.
TEST(BatchForwardErrorsTest, BadBatchesAreRefusedWithEveryStateUntouched) {
  auto loaded = Model::Load(testing::kForwardTestData / "v4-tiny");
  ASSERT_TRUE(loaded) << loaded.error();
  Model& model = **loaded;
  SequenceState a = model.NewSequence(), b = model.NewSequence();
  ASSERT_TRUE(model.Forward(a, Tokens(3, 1)));
  const SequenceState a0 = a, b0 = b;
  const std::vector<int32_t> ok = {5}, bad = {5, 512};

  auto empty = model.ForwardBatch({});
  ASSERT_FALSE(empty);
  EXPECT_THAT(empty.error(), HasSubstr("no sequences"));

  const BatchEntry twice[] = {{&a, ok, 1}, {&a, ok, 1}};
  auto dup = model.ForwardBatch(twice);
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error(), HasSubstr("sequence 1 of the batch: the same sequence state"));

  const BatchEntry out_of_vocab[] = {{&a, ok, 1}, {&b, bad, 1}};
  auto oov = model.ForwardBatch(out_of_vocab);
  ASSERT_FALSE(oov);
  EXPECT_THAT(oov.error(), HasSubstr("sequence 1 of the batch: token id 512 at position 1"));

  const BatchEntry no_tokens[] = {{&a, ok, 1}, {&b, {}, 1}};
  auto none = model.ForwardBatch(no_tokens);
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error(), HasSubstr("no tokens"));

  ExpectSameState(a, a0, "after the refused batches");
  ExpectSameState(b, b0, "after the refused batches");
}

}  // namespace
}  // namespace dsagent::engine::forward
