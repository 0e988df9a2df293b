// The forward pass against the official reference's outputs on the tiny V4 checkpoint
// (tests/data/v4-tiny/README.md says how they were produced).
//
// Achieved: every logit, MTP logit and per-layer stream is bit-identical to the reference
// (top-1 100%, max |d| = 0, relative error 0), for the 340-token prefill, the 300-token prefill and
// the 40 decode steps. The acceptance bounds (top-1 >= 99%, max |d| <= 0.05, streams rel
// err <= 1e-2) are therefore tightened to exact equality. That relies on mirroring the reference's
// rounding points (see engine/README.md); a change that computes differently (e.g. fp32 instead
// of double accumulation, or another rounding order) may legitimately land on the other side of
// an FP8/bf16 rounding boundary somewhere, and should then fall back to those bounds, with the
// difference explained here.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "tests/engine/forward/golden_data.h"

namespace dsagent::engine::forward {
namespace {
using testing::Compare;
using testing::Describe;
using testing::kTinyModel;
using testing::kVocab;
using testing::ReadRaw;

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

TEST_F(ForwardGoldenTest, Prefill340MatchesTheReferenceExactly) {
  auto logits = ComputeLogits(*model_, tokens_);
  ASSERT_TRUE(logits) << logits.error();
  const auto golden = ReadRaw<float>("prefill340_logits.f32");
  ASSERT_EQ(logits->size(), golden.size());
  const auto a = Compare(logits->data(), golden.data(), 340, kVocab);
  EXPECT_EQ(a.top1_agree, 340) << Describe(a);
  EXPECT_EQ(a.differing, 0) << Describe(a);
}

// ForwardLast computes the head on the last row only: the same bits as the reference's last row,
// and it advances the state like Forward (the decode after it matches too).
TEST_F(ForwardGoldenTest, ForwardLastGivesTheLastRowOfThePrefill) {
  SequenceState seq = model_->NewSequence();
  auto last = model_->ForwardLast(seq, First(300));
  ASSERT_TRUE(last) << last.error();
  ASSERT_EQ(last->size(), static_cast<size_t>(kVocab));
  const auto golden = ReadRaw<float>("prefill300_logits.f32");
  EXPECT_TRUE(std::equal(last->begin(), last->end(), golden.end() - kVocab));
  EXPECT_EQ(seq.pos, 300);
  auto next = model_->ForwardLast(seq, std::vector<int32_t>{tokens_[300]});
  ASSERT_TRUE(next) << next.error();
  const auto decode = ReadRaw<float>("decode_300_339_logits.f32");
  EXPECT_TRUE(std::equal(next->begin(), next->end(), decode.begin()));
}

TEST_F(ForwardGoldenTest, LayerStreamsMatchTheReferenceExactly) {
  SequenceState seq = model_->NewSequence();
  ForwardTrace trace;
  trace.keep_layer_streams = true;
  ASSERT_TRUE(model_->Forward(seq, tokens_, &trace));
  const auto golden = ReadRaw<float>("prefill340_layer_streams.f32");  // [5, 340, 4, 128]
  ASSERT_EQ(trace.layer_streams.size(), golden.size());
  const int64_t per_layer = 340 * 4 * 128;
  for (int layer = 0; layer < 5; ++layer) {
    const auto a = Compare(trace.layer_streams.data() + layer * per_layer,
                           golden.data() + layer * per_layer, 340 * 4, 128);
    EXPECT_EQ(a.differing, 0) << "layer " << layer << ": " << Describe(a);
    EXPECT_EQ(a.relative_error, 0.0) << "layer " << layer;
  }
}

TEST_F(ForwardGoldenTest, Prefill300MatchesTheReferenceExactly) {
  auto logits = ComputeLogits(*model_, First(300));
  ASSERT_TRUE(logits) << logits.error();
  const auto golden = ReadRaw<float>("prefill300_logits.f32");
  ASSERT_EQ(logits->size(), golden.size());
  const auto a = Compare(logits->data(), golden.data(), 300, kVocab);
  EXPECT_EQ(a.differing, 0) << Describe(a);
}

TEST_F(ForwardGoldenTest, DecodeAfterPrefill300MatchesTheReferenceExactly) {
  auto logits = ComputeLogits(*model_, tokens_, /*prefill=*/300);
  ASSERT_TRUE(logits) << logits.error();
  ASSERT_EQ(logits->size(), 340u * kVocab);
  const auto golden = ReadRaw<float>("decode_300_339_logits.f32");  // rows 300..339
  const auto a = Compare(logits->data() + 300 * kVocab, golden.data(), 40, kVocab);
  EXPECT_EQ(a.top1_agree, 40) << Describe(a);
  EXPECT_EQ(a.differing, 0) << Describe(a);
}

TEST_F(ForwardGoldenTest, MtpMatchesTheReferenceExactly) {
  SequenceState seq = model_->NewSequence();
  ForwardTrace trace;
  ASSERT_TRUE(model_->Forward(seq, tokens_, &trace));
  // The MTP block reads the final streams at positions 0..338 and the tokens 1..339.
  const std::vector<float> streams(trace.final_streams.begin(),
                                   trace.final_streams.begin() + 339 * 4 * 128);
  const std::vector<int32_t> next(tokens_.begin() + 1, tokens_.end());
  auto mtp = model_->ForwardMtp(seq, streams, next);
  ASSERT_TRUE(mtp) << mtp.error();
  const auto golden = ReadRaw<float>("mtp_prefill339_logits.f32");
  ASSERT_EQ(mtp->size(), golden.size());
  const auto a = Compare(mtp->data(), golden.data(), 339, kVocab);
  EXPECT_EQ(a.differing, 0) << Describe(a);
  EXPECT_EQ(seq.mtp_pos, 339);
}

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
