#include "engine/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dsagent::engine {

Expected<Ok, std::string> CheckSamplingParams(const SamplingParams& p) {
  if (!std::isfinite(p.temperature)) return MakeUnexpected("temperature must be a finite number");
  if (!(p.top_p > 0 && p.top_p <= 1)) return MakeUnexpected("top_p must be in (0, 1]");
  if (!(p.min_p >= 0 && p.min_p < 1)) return MakeUnexpected("min_p must be in [0, 1)");
  return Ok{};
}

int32_t Argmax(std::span<const float> logits) {
  int32_t best = 0;
  float best_v = -std::numeric_limits<float>::infinity();
  bool found = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    if (std::isnan(v)) continue;
    if (!found || v > best_v) {
      best = static_cast<int32_t>(i);
      best_v = v;
      found = true;
    }
  }
  return best;
}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::Sample(std::span<const float> logits) {
  if (params_.temperature <= 0) return Argmax(logits);

  struct Candidate {
    int32_t id;
    double p;
  };
  const double max_logit = logits[static_cast<size_t>(Argmax(logits))];
  if (!std::isfinite(max_logit)) return Argmax(logits);  // nothing finite to sample from
  std::vector<Candidate> c;
  c.reserve(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double v = logits[i];
    if (std::isnan(v) || v == -std::numeric_limits<double>::infinity()) continue;
    const double p = std::exp((v - max_logit) / params_.temperature);
    if (p <= 0) continue;
    c.push_back({static_cast<int32_t>(i), p});
    sum += p;
  }
  // Most likely first; equal probabilities by ascending id (stable on the id-ordered input).
  std::stable_sort(c.begin(), c.end(),
                   [](const Candidate& a, const Candidate& b) { return a.p > b.p; });
  for (auto& x : c) x.p /= sum;

  size_t keep = c.size();
  if (params_.top_k > 0) keep = std::min(keep, static_cast<size_t>(params_.top_k));
  if (params_.top_p < 1) {
    double mass = 0, total = 0;
    for (size_t i = 0; i < keep; ++i) total += c[i].p;
    for (size_t i = 0; i < keep; ++i) {
      mass += c[i].p;
      if (mass >= params_.top_p * total) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0) {
    const double floor = params_.min_p * c[0].p;
    size_t n = 1;
    while (n < keep && c[n].p >= floor) ++n;
    keep = n;
  }

  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += c[i].p;
  const double target = Uniform() * total;
  double acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += c[i].p;
    if (target < acc) return c[i].id;
  }
  return c[keep - 1].id;  // rounding left target == total
}

}  // namespace dsagent::engine
