#include "agent/router/routing_policy.h"

#include <random>

namespace dsagent {
namespace {

class AlwaysPolicy : public RoutingPolicy {
 public:
  explicit AlwaysPolicy(bool pro) : pro_(pro) {}
  Proposal Propose(const StepFeatures&) override {
    return {pro_, pro_ ? "always Pro" : "always Flash", false};
  }

 private:
  bool pro_;
};

// Pro with probability p per call (mini-swe-agent's roulette, generalised).
class RandomPolicy : public RoutingPolicy {
 public:
  RandomPolicy(double p, uint64_t seed) : p_(p), rng_(seed) {}
  Proposal Propose(const StepFeatures&) override {
    const bool pro = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < p_;
    return {pro, "random draw (p=" + std::to_string(p_) + ")", false};
  }

 private:
  double p_;
  std::mt19937_64 rng_;
};

// A fixed cycle over steps, e.g. "FFP": Flash, Flash, Pro, Flash, ...
class InterleavePolicy : public RoutingPolicy {
 public:
  explicit InterleavePolicy(std::string pattern) : pattern_(std::move(pattern)) {}
  Proposal Propose(const StepFeatures& f) override {
    const char c = pattern_[static_cast<size_t>(f.step - 1) % pattern_.size()];
    return {c == 'P', std::string("interleave ") + pattern_ + " at step " + std::to_string(f.step),
            false};
  }

 private:
  std::string pattern_;
};

// Pro plans the first k calls of each turn, Flash executes (Aider's architect/editor analogue).
class ProFirstPolicy : public RoutingPolicy {
 public:
  explicit ProFirstPolicy(int k) : k_(k) {}
  Proposal Propose(const StepFeatures& f) override {
    const bool pro = f.turn_step <= k_;
    return {pro, pro ? "first " + std::to_string(k_) + " steps of the turn" : "after planning",
            pro};
  }

 private:
  int k_;
};

// Flash until `failures` failures since the last passing command; then Pro until a command
// passes, the turn ends, or `pro_steps` calls have been made on Pro (0 = no step limit).
class EscalateOnFailurePolicy : public RoutingPolicy {
 public:
  EscalateOnFailurePolicy(int failures, int pro_steps)
      : failures_(failures), pro_steps_(pro_steps) {}
  Proposal Propose(const StepFeatures& f) override {
    if (f.turn_step == 1) escalated_ = false;  // a new turn starts on Flash
    if (escalated_) {
      if (f.last_verify_passed) {
        escalated_ = false;
        return {false, "de-escalate: a command passed", false};
      }
      if (pro_steps_ > 0 && pro_calls_ >= pro_steps_) {
        escalated_ = false;
        return {false, "de-escalate: " + std::to_string(pro_steps_) + " Pro steps used", false};
      }
      ++pro_calls_;
      return {true, "escalated", true};
    }
    if (f.failures_since_success >= failures_) {
      escalated_ = true;
      pro_calls_ = 1;
      return {true,
              "escalate: " + std::to_string(f.failures_since_success) + " failures since success",
              true};
    }
    return {false, std::to_string(f.failures_since_success) + " failures since success", false};
  }

 private:
  int failures_, pro_steps_;
  bool escalated_ = false;
  int pro_calls_ = 0;
};

// Pro while the run has spent less than max_usd, then Flash.
class BudgetPolicy : public RoutingPolicy {
 public:
  explicit BudgetPolicy(double max_usd) : max_usd_(max_usd) {}
  Proposal Propose(const StepFeatures& f) override {
    const bool pro = f.cost_so_far_usd < max_usd_;
    return {pro, pro ? "spend below the Pro budget" : "Pro budget spent", false};
  }

 private:
  double max_usd_;
};

Expected<double, std::string> Number(const Json& params, const char* key, double fallback,
                                     double lo, double hi) {
  if (!params.contains(key)) return fallback;
  if (!params[key].is_number()) return MakeUnexpected(std::string(key) + " must be a number");
  const double v = params[key].get<double>();
  if (v < lo || v > hi) {
    return MakeUnexpected(std::string(key) + " must be between " + std::to_string(lo) + " and " +
                          std::to_string(hi));
  }
  return v;
}

}  // namespace

Expected<std::unique_ptr<RoutingPolicy>, std::string> MakeRoutingPolicy(const std::string& kind,
                                                                        const Json& params) {
  using Ptr = std::unique_ptr<RoutingPolicy>;
  if (kind == "always-flash") return Ptr(new AlwaysPolicy(false));
  if (kind == "always-pro") return Ptr(new AlwaysPolicy(true));
  if (kind == "random") {
    auto p = Number(params, "p", 0.5, 0, 1);
    auto seed = Number(params, "seed", 0, 0, 1e18);
    if (!p) return MakeUnexpected(p.error());
    if (!seed) return MakeUnexpected(seed.error());
    return Ptr(new RandomPolicy(*p, static_cast<uint64_t>(*seed)));
  }
  if (kind == "interleave") {
    const std::string pattern = params.value("pattern", std::string("FP"));
    if (pattern.empty() || pattern.find_first_not_of("FP") != std::string::npos) {
      return MakeUnexpected(
          std::string("pattern must be a non-empty string of F and P, e.g. \"FFP\""));
    }
    return Ptr(new InterleavePolicy(pattern));
  }
  if (kind == "pro-first") {
    auto k = Number(params, "k", 3, 0, 1e6);
    if (!k) return MakeUnexpected(k.error());
    return Ptr(new ProFirstPolicy(static_cast<int>(*k)));
  }
  if (kind == "escalate-on-failure") {
    auto n = Number(params, "failures", 2, 1, 1e6);
    auto m = Number(params, "pro_steps", 0, 0, 1e6);
    if (!n) return MakeUnexpected(n.error());
    if (!m) return MakeUnexpected(m.error());
    return Ptr(new EscalateOnFailurePolicy(static_cast<int>(*n), static_cast<int>(*m)));
  }
  if (kind == "budget") {
    auto max = Number(params, "max_usd", 1.0, 0, 1e9);
    if (!max) return MakeUnexpected(max.error());
    return Ptr(new BudgetPolicy(*max));
  }
  return MakeUnexpected("unknown routing policy kind '" + kind +
                        "' (always-flash, always-pro, random, interleave, pro-first, "
                        "escalate-on-failure, budget)");
}

}  // namespace dsagent
