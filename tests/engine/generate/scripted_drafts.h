// Drafts a test controls, for speculative decoding's tests on the CPU and the device: the true
// next token (from a plain run's tokens) except every `wrong`-th draft, which is off by one, so
// that both paths run often — accepted drafts (two tokens per forward call) and rejected ones
// (their row taken back).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/generate/draft_source.h"

namespace dsagent::engine::testing {

class ScriptedDrafts : public DraftSource {
 public:
  // `sequence`: the prompt then plain decoding's tokens; drafts are ids below `vocab`.
  ScriptedDrafts(std::vector<int32_t> sequence, int wrong, int32_t vocab = 512)
      : sequence_(std::move(sequence)), wrong_(wrong), vocab_(vocab) {}
  Expected<Ok, std::string> Fed(std::span<const int32_t> tokens, std::span<const float>) override {
    for (int32_t t : tokens) {
      if (fed_ < sequence_.size()) {
        EXPECT_EQ(t, sequence_[fed_]) << "told a token out of order";
      }
      ++fed_;
    }
    return Ok{};
  }
  Expected<DraftGuess, std::string> Draft(int32_t token) override {
    EXPECT_EQ(token, sequence_.at(fed_));
    const int32_t right = fed_ + 1 < sequence_.size() ? sequence_[fed_ + 1] : 0;
    return DraftGuess{++drafts_ % wrong_ == 0 ? (right + 1) % vocab_ : right, {}};
  }

 private:
  std::vector<int32_t> sequence_;
  int wrong_;
  int32_t vocab_;
  size_t fed_ = 0;
  int drafts_ = 0;
};

}  // namespace dsagent::engine::testing
