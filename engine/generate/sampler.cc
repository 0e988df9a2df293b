#include "engine/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
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

double TokenDistribution::Prob(int32_t id) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == id) return weights[i] / total;
  }
  return 0;
}

int32_t TokenDistribution::Pick(double u) const {
  const double target = u * total;
  double acc = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    acc += weights[i];
    if (target < acc) return ids[i];
  }
  return ids.back();  // rounding left target == total
}

DraftVerdict VerifyDraft(const TokenDistribution& p, const TokenDistribution& q, int32_t draft,
                         double u_accept, double u_residual) {
  const double px = p.Prob(draft), qx = q.Prob(draft);
  // u < p/q without the division (q(x) = 0 cannot come from sampling q, but a caller's q may
  // lack the draft: then it is kept exactly when p allows it).
  if (u_accept * qx < px) return {draft, true};
  // The residual max(0, p - q), over p's tokens in p's order (q's tokens outside p add nothing).
  std::vector<std::pair<int32_t, double>> q_by_id;
  q_by_id.reserve(q.ids.size());
  for (size_t i = 0; i < q.ids.size(); ++i) q_by_id.emplace_back(q.ids[i], q.weights[i] / q.total);
  std::sort(q_by_id.begin(), q_by_id.end());
  const auto q_of = [&](int32_t id) {
    const auto it =
        std::lower_bound(q_by_id.begin(), q_by_id.end(), std::make_pair(id, 0.0),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
    return it != q_by_id.end() && it->first == id ? it->second : 0.0;
  };
  std::vector<double> residual(p.ids.size());
  double sum = 0;
  for (size_t i = 0; i < p.ids.size(); ++i) {
    residual[i] = std::max(0.0, p.weights[i] / p.total - q_of(p.ids[i]));
    sum += residual[i];
  }
  // A rejection means p(x) < q(x), so some token has p > q and the sum is positive; rounding
  // could still leave nothing, and then p itself is the right distribution to fall back on.
  if (!(sum > 0)) return {p.Pick(u_residual), false};
  const double target = u_residual * sum;
  double acc = 0;
  int32_t last = p.ids.front();
  for (size_t i = 0; i < p.ids.size(); ++i) {
    if (residual[i] <= 0) continue;
    acc += residual[i];
    last = p.ids[i];
    if (target < acc) return {p.ids[i], false};
  }
  return {last, false};
}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::Sample(std::span<const float> logits) {
  if (params_.temperature <= 0) return Argmax(logits);
  // Nothing finite to sample from: the argmax, without a draw (as always).
  const int32_t best = Argmax(logits);
  if (!std::isfinite(logits[static_cast<size_t>(best)])) return best;
  return Distribution(logits).Pick(Uniform());
}

TokenDistribution Sampler::Distribution(std::span<const float> logits) const {
  struct Candidate {
    int32_t id;
    double p;
  };
  TokenDistribution out;
  const double max_logit = logits[static_cast<size_t>(Argmax(logits))];
  if (!std::isfinite(max_logit) || params_.temperature <= 0) {  // nothing finite, or greedy
    out.ids = {Argmax(logits)};
    out.weights = {1.0};
    out.total = 1;
    return out;
  }
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

  out.ids.reserve(keep);
  out.weights.reserve(keep);
  for (size_t i = 0; i < keep; ++i) {
    out.ids.push_back(c[i].id);
    out.weights.push_back(c[i].p);
    out.total += c[i].p;
  }
  return out;
}

}  // namespace dsagent::engine
