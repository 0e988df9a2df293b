// The forward pass against the official reference's outputs on the two golden checkpoints copied
// from ../shared/golden (tests/data/v4-tiny and v4-tiny-c; their READMEs say how they were made and
// state the canonical convention the engine follows).
//
// Achieved: every logit, MTP logit and per-layer stream is bit-identical to the reference (top-1
// 100%, max |d| = 0), for the full prefill, the prefill of the first N tokens and the decode steps
// after it. v4-tiny-c contains the rare rounding events v4-tiny lacks (a float32 GEMM result on a
// bf16 tie, which the convention rounds float64 -> float32 -> bf16). The bounds (top-1 >=
// 99%, max |d| <= 0.05) are therefore tightened to exact equality; a change that computes
// differently (e.g. fp32 accumulation) belongs to the `fast` numerics and its own bounds.
// golden_sweep_test.cc checks the same on many more configurations.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "tests/engine/forward/golden_checks.h"
#include "tests/engine/forward/golden_data.h"

namespace dsagent::engine::forward {
namespace {
using testing::Compare;
using testing::Describe;
using testing::GoldenSet;
using testing::kDataDir;
using testing::kTinyModel;
using testing::kVocab;
using testing::ReadRaw;

// Both checkpoints, every way the reference computed logits.
class GoldenSetTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    set_ = std::make_unique<GoldenSet>(kDataDir / GetParam());
    auto m = Model::Load(set_->dir());
    ASSERT_TRUE(m) << m.error();
    model_ = std::move(*m);
  }
  std::unique_ptr<GoldenSet> set_;
  std::unique_ptr<Model> model_;
};

TEST_P(GoldenSetTest, FullPrefillMatchesTheReferenceExactly) {
  const auto a = testing::FullPrefillAgreement(*model_, *set_);
  EXPECT_EQ(a.rows, set_->tokens());
  EXPECT_EQ(a.top1_agree, a.rows) << Describe(a);
  EXPECT_EQ(a.differing, 0) << Describe(a);
}

TEST_P(GoldenSetTest, PrefillThenDecodeMatchesTheReferenceExactly) {
  const auto a = testing::PrefillThenDecodeAgreement(*model_, *set_);
  EXPECT_EQ(a.prefill.rows, set_->prefill_part());
  EXPECT_EQ(a.prefill.differing, 0) << "prefill: " << Describe(a.prefill);
  EXPECT_EQ(a.decode.rows, set_->tokens() - set_->prefill_part());
  EXPECT_EQ(a.decode.differing, 0) << "decode: " << Describe(a.decode);
}

TEST_P(GoldenSetTest, MtpMatchesTheReferenceExactly) {
  const auto a = testing::MtpAgreement(*model_, *set_);
  EXPECT_EQ(a.rows, set_->tokens() - 1);
  EXPECT_EQ(a.differing, 0) << Describe(a);
}

TEST_P(GoldenSetTest, LayerStreamsMatchTheReferenceExactly) {
  const auto tokens = set_->Read<int32_t>("tokens");
  SequenceState seq = model_->NewSequence();
  ForwardTrace trace;
  trace.keep_layer_streams = true;
  ASSERT_TRUE(model_->Forward(seq, tokens, &trace));
  const auto golden = set_->Read<float>("layer_streams_prefill340");  // [L, S, hc, D]
  ASSERT_EQ(trace.layer_streams.size(), golden.size());
  const int64_t layers = set_->Dim("layer_streams_prefill340", 0);
  const int64_t rows = set_->tokens() * set_->Dim("layer_streams_prefill340", 2);
  const int64_t dim = set_->Dim("layer_streams_prefill340", 3);
  for (int64_t layer = 0; layer < layers; ++layer) {
    const auto a = Compare(trace.layer_streams.data() + layer * rows * dim,
                           golden.data() + layer * rows * dim, rows, dim);
    EXPECT_EQ(a.differing, 0) << "layer " << layer << ": " << Describe(a);
  }
}

// ForwardLast computes the head on the last row only: the same bits as the reference's last row,
// and it advances the state like Forward (the decode after it matches too).
TEST_P(GoldenSetTest, ForwardLastGivesTheLastRowOfThePrefill) {
  const auto tokens = set_->Read<int32_t>("tokens");
  const int64_t n = set_->prefill_part(), v = set_->vocab();
  SequenceState seq = model_->NewSequence();
  auto last = model_->ForwardLast(seq, std::span<const int32_t>(tokens).first(n));
  ASSERT_TRUE(last) << last.error();
  ASSERT_EQ(last->size(), static_cast<size_t>(v));
  const auto golden = set_->Read<float>("prefill300_logits");
  EXPECT_TRUE(std::equal(last->begin(), last->end(), golden.end() - v));
  EXPECT_EQ(seq.pos, n);
  auto next = model_->ForwardLast(seq, std::vector<int32_t>{tokens[static_cast<size_t>(n)]});
  ASSERT_TRUE(next) << next.error();
  const auto decode = set_->Read<float>("decode_logits");
  EXPECT_TRUE(std::equal(next->begin(), next->end(), decode.begin()));
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, GoldenSetTest, ::testing::Values("v4-tiny", "v4-tiny-c"),
                         [](const auto& p) { return testing::TestName(p.param); });

// The ways of splitting a sequence into forward calls, on v4-tiny.
class ForwardGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Model::Load(kTinyModel);
    ASSERT_TRUE(m) << m.error();
    model_ = std::move(*m);
    tokens_ = ReadRaw<int32_t>("tokens.i32");
    ASSERT_EQ(tokens_.size(), 340u);
  }

  std::vector<int32_t> First(size_t n) const {
    return std::vector<int32_t>(tokens_.begin(), tokens_.begin() + static_cast<ptrdiff_t>(n));
  }

  std::unique_ptr<Model> model_;
  std::vector<int32_t> tokens_;
};

// Prefill + single-token decodes, one-token-at-a-time from the start, and chunked continuation all
// compute what one prefill computes (here exactly: every attention index list of this config fits
// in one 64-entry block of the sparse-attention kernel, so the -1 padding that differs between the
// prefill and decode layouts never changes a rounding).
TEST_F(ForwardGoldenTest, PrefillThenDecodeEqualsOnePrefill) {
  const auto golden = ReadRaw<float>("prefill340_logits.f32");
  const std::vector<int32_t> tokens = First(80);
  for (int64_t prefill : {0, 1, 37}) {
    auto logits = ComputeLogits(*model_, tokens, prefill);
    ASSERT_TRUE(logits) << logits.error();
    const auto a = Compare(logits->data(), golden.data(), 80, kVocab);
    EXPECT_EQ(a.differing, 0) << "prefill " << prefill << ": " << Describe(a);
  }
}

TEST_F(ForwardGoldenTest, ChunkedForwardEqualsOnePrefill) {
  const auto golden = ReadRaw<float>("prefill340_logits.f32");
  SequenceState seq = model_->NewSequence();
  std::vector<float> logits;
  const std::pair<int, int> chunks[] = {{0, 150}, {150, 151}, {151, 200}, {200, 340}};
  for (const auto& [begin, end] : chunks) {
    const std::vector<int32_t> chunk(tokens_.begin() + begin, tokens_.begin() + end);
    auto l = model_->Forward(seq, chunk);
    ASSERT_TRUE(l) << l.error();
    logits.insert(logits.end(), l->begin(), l->end());
  }
  EXPECT_EQ(seq.pos, 340);
  const auto a = Compare(logits.data(), golden.data(), 340, kVocab);
  EXPECT_EQ(a.differing, 0) << Describe(a);
}

// The state is plain data: a copy taken mid-sequence continues exactly like the original.
TEST_F(ForwardGoldenTest, CopiedStateContinuesLikeTheOriginal) {
  SequenceState seq = model_->NewSequence();
  ASSERT_TRUE(model_->Forward(seq, First(150)));
  SequenceState snapshot = seq;
  const std::vector<int32_t> next(tokens_.begin() + 150, tokens_.begin() + 153);
  auto a = model_->Forward(seq, next);
  auto b = model_->Forward(snapshot, next);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  // Compressed entries so far: 153/4 for ratio-4 layers (with indexer keys), 153/16 for 16.
  EXPECT_EQ(seq.layers[1].compressed_entries(), 153 / 4);
  EXPECT_EQ(seq.layers[1].index_keys.size(), size_t{153 / 4} * 128);
  EXPECT_EQ(seq.layers[2].compressed_entries(), 153 / 16);
  EXPECT_EQ(seq.layers[0].compressed_entries(), 0);
}

TEST_F(ForwardGoldenTest, ResultsDoNotDependOnTheThreadCount) {
  ModelOptions one;
  one.threads = 1;
  auto single = Model::Load(kTinyModel, one);
  ASSERT_TRUE(single) << single.error();
  ModelOptions four;
  four.threads = 4;
  auto multi = Model::Load(kTinyModel, four);
  ASSERT_TRUE(multi) << multi.error();
  const std::vector<int32_t> tokens = First(64);
  auto a = ComputeLogits(**single, tokens, 60);
  auto b = ComputeLogits(**multi, tokens, 60);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace dsagent::engine::forward
