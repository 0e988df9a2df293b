// Shared by the KV tests: the tiny V4 checkpoint (loaded once per test binary), prompts longer
// than its 340 golden tokens, cold runs and greedy continuations to compare against.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/forward/model.h"
#include "tests/engine/forward/golden_data.h"

namespace dsagent::engine::kv::testing {

inline forward::Model& TinyModel() {
  static std::unique_ptr<forward::Model> model = [] {
    auto m = forward::Model::Load(forward::testing::kTinyModel, {.threads = 2});
    EXPECT_TRUE(m) << m.error();
    return std::move(*m);
  }();
  return *model;
}

// The golden prompt's 340 ids, extended with deterministic pseudo-random ids up to `n` (<= 500).
inline std::vector<int32_t> Prompt(size_t n, uint32_t seed = 1) {
  std::vector<int32_t> t = forward::testing::ReadRaw<int32_t>("tokens.i32");
  uint32_t x = seed * 2654435761u + 12345u;
  while (t.size() < n) {
    x = x * 1664525u + 1013904223u;
    t.push_back(static_cast<int32_t>((x >> 8) % 512));
  }
  t.resize(n);
  return t;
}

inline int32_t ArgMax(const float* logits, int64_t vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
}

// Greedy continuation: `steps` tokens from `last_logits` on, decoding one at a time.
inline std::vector<int32_t> Greedy(forward::Model& model, forward::SequenceState state,
                                   std::vector<float> last_logits, int steps) {
  std::vector<int32_t> out;
  const int64_t vocab = model.config().vocab_size;
  for (int i = 0; i < steps; ++i) {
    const int32_t next = ArgMax(last_logits.data(), vocab);
    out.push_back(next);
    auto l = model.Forward(state, std::vector<int32_t>{next});
    EXPECT_TRUE(l);
    last_logits = std::move(*l);
  }
  return out;
}

// A cold run: one prefill of all of `tokens` from position 0.
struct ColdRun {
  forward::SequenceState state;
  std::vector<float> last_logits;
};
inline ColdRun Cold(const std::vector<int32_t>& tokens) {
  forward::Model& m = TinyModel();
  ColdRun r{m.NewSequence(), {}};
  auto l = m.Forward(r.state, tokens);
  EXPECT_TRUE(l);
  r.last_logits.assign(l->end() - m.config().vocab_size, l->end());
  return r;
}

}  // namespace dsagent::engine::kv::testing
