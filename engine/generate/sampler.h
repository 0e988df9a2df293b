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
#include <vector>

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

// The distribution a random Sampler draws from: the tokens that survive the filters, most likely
// first (ties by ascending id), with weights that sum to `total` (Prob() divides by it; the draw
// uses the weights as they are so that it stays the one Sample() always made).
struct TokenDistribution {
  std::vector<int32_t> ids;
  std::vector<double> weights;
  double total = 0;
  // The probability of `id`; 0 for a token that did not survive.
  double Prob(int32_t id) const;
  // The token at cumulative weight u * total, u in [0, 1): inverse-CDF sampling in list order.
  int32_t Pick(double u) const;
};

// One draft verified by the standard acceptance rule of speculative sampling (Leviathan et al.
// 2023, Chen et al. 2023): the draft x, drawn from the drafter's distribution q, is kept when
// u_accept < p(x) / q(x) (always when q(x) <= p(x)); otherwise the token is drawn with u_residual
// from norm(max(0, p - q)). Whatever q is, the returned token is distributed as p. u_accept and
// u_residual are uniform in [0, 1). p must not be empty.
struct DraftVerdict {
  int32_t token = 0;
  bool accepted = false;
};
DraftVerdict VerifyDraft(const TokenDistribution& p, const TokenDistribution& q, int32_t draft,
                         double u_accept, double u_residual);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

  // The chosen token id in [0, logits.size()). Logits may hold -inf (masked tokens); NaN counts
  // as -inf. Precondition: logits is not empty.
  int32_t Sample(std::span<const float> logits);

  // What Sample draws from when it draws at random (temperature > 0): the filtered, temperature-
  // scaled softmax of `logits`. Nothing finite: the argmax alone. Precondition: not empty.
  TokenDistribution Distribution(std::span<const float> logits) const;

  // The next draw of the sampler's random stream, uniform in [0, 1) with 53 random bits (what
  // Sample uses; speculative sampling takes its draws from the same stream, so a seed fixes it).
  double Uniform();

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

// The index of the largest logit, the lowest index on ties (NaN never wins).
int32_t Argmax(std::span<const float> logits);

}  // namespace dsagent::engine
