// The engine's outputs for a golden set (golden_data.h), computed the ways the reference computed
// them: one prefill of every token, a prefill of the first N followed by single-token decode steps,
// the per-layer residual streams, and the MTP block on the last block's streams.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "tests/engine/forward/golden_data.h"

namespace dsagent::engine::forward::testing {

// Logits of one prefill of all the set's tokens, against prefill_full_logits.
inline Agreement FullPrefillAgreement(Model& model, const GoldenSet& set) {
  const auto tokens = set.Read<int32_t>("tokens");
  auto logits = ComputeLogits(model, tokens);
  EXPECT_TRUE(logits) << logits.error();
  const auto golden = set.Read<float>("prefill_full_logits");
  if (!logits || logits->size() != golden.size()) return {};
  return Compare(logits->data(), golden.data(), set.tokens(), set.vocab());
}

// Logits of the prefill of the first N tokens (prefill300_logits) and of the decode steps after it
// (decode_logits), from one ComputeLogits(tokens, N).
struct PartAndDecode {
  Agreement prefill, decode;
};
inline PartAndDecode PrefillThenDecodeAgreement(Model& model, const GoldenSet& set) {
  const auto tokens = set.Read<int32_t>("tokens");
  const int64_t n = set.prefill_part(), v = set.vocab();
  auto logits = ComputeLogits(model, tokens, n);
  EXPECT_TRUE(logits) << logits.error();
  const auto part = set.Read<float>("prefill300_logits");
  const auto decode = set.Read<float>("decode_logits");
  if (!logits || logits->size() != static_cast<size_t>(set.tokens() * v)) return {};
  return {Compare(logits->data(), part.data(), n, v),
          Compare(logits->data() + n * v, decode.data(), set.tokens() - n, v)};
}

// The MTP block on the final streams at positions 0..S-2 with tokens 1..S-1 (mtp_logits).
inline Agreement MtpAgreement(Model& model, const GoldenSet& set) {
  const auto tokens = set.Read<int32_t>("tokens");
  SequenceState seq = model.NewSequence();
  ForwardTrace trace;
  EXPECT_TRUE(model.Forward(seq, tokens, &trace));
  const int64_t s = set.tokens();
  const int64_t width = static_cast<int64_t>(trace.final_streams.size()) / s;
  const std::vector<float> streams(trace.final_streams.begin(),
                                   trace.final_streams.begin() + (s - 1) * width);
  const std::vector<int32_t> next(tokens.begin() + 1, tokens.end());
  auto mtp = model.ForwardMtp(seq, streams, next);
  EXPECT_TRUE(mtp) << mtp.error();
  const auto golden = set.Read<float>("mtp_logits");
  if (!mtp || mtp->size() != golden.size()) return {};
  return Compare(mtp->data(), golden.data(), s - 1, set.vocab());
}

}  // namespace dsagent::engine::forward::testing
