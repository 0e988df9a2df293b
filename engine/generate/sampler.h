// Sampler: picks the next token from a row of logits. Greedy (temperature <= 0) or random with
// temperature, top-k, top-p and min-p, drawn from a seeded std::mt19937_64, so the same seed and
// the same logits give the same tokens on every machine (the uniform draw is computed from the
// raw 64-bit output, not by an implementation-defined std:: distribution).
//
// Filters apply in this order to the temperature-scaled softmax: top-k, then top-p (the smallest
// set of most likely tokens whose mass reaches top_p), then min-p (drop tokens below
// min_p * the largest probability); the survivors are renormalised. Ties in probability are
// broken towards the lower token id everywhere, greedy included.
//
// Not thread-safe (it owns the RNG state); one Sampler per sequence.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>

#include "common/expected.h"

namespace dsagent::engine {

struct SamplingParams {
  double temperature = 0;  // <= 0: greedy (argmax)
  int top_k = 0;           // <= 0: off
  double top_p = 1.0;      // in (0, 1]; 1: off
  double min_p = 0;        // in [0, 1); 0: off
  uint64_t seed = 0;
};

// Ok when the parameters are usable, else a message naming the bad one (e.g. top_p = 0).
Expected<Ok, std::string> CheckSamplingParams(const SamplingParams& params);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

  // The chosen token id in [0, logits.size()). Logits may hold -inf (masked tokens); NaN counts
  // as -inf. Precondition: logits is not empty.
  int32_t Sample(std::span<const float> logits);

  const SamplingParams& params() const { return params_; }

 private:
  double Uniform();  // [0, 1) with 53 random bits

  SamplingParams params_;
  std::mt19937_64 rng_;
};

// The index of the largest logit, the lowest index on ties (NaN never wins).
int32_t Argmax(std::span<const float> logits);

}  // namespace dsagent::engine
