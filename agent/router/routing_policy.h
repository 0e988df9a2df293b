// Routing policies: each proposes, before a model call, whether it should go to the strong lane
// (Pro) or the cheap one (Flash). Policies are small state machines over StepFeatures, built from
// YAML (configs/routing/*.yaml or a user file) by MakeRoutingPolicy. Deterministic given their
// parameters (random policies take a seed).
#pragma once

#include <memory>
#include <string>

#include "agent/router/step_features.h"
#include "common/expected.h"
#include "common/json.h"

namespace dsagent {

struct Proposal {
  bool pro = false;
  std::string reason;
  // True when the choice is about quality (e.g. escalation after failures): a cache-aware modifier
  // must not veto it for cost.
  bool required = false;
};

class RoutingPolicy {
 public:
  virtual ~RoutingPolicy() = default;
  virtual Proposal Propose(const StepFeatures& features) = 0;
};

// Builds policy `kind` ("always-flash", "always-pro", "random", "interleave", "pro-first",
// "escalate-on-failure", "budget") with `params` (a JSON object; missing params take documented
// defaults). Error: unknown kind, or a parameter of the wrong type/range (named).
Expected<std::unique_ptr<RoutingPolicy>, std::string> MakeRoutingPolicy(const std::string& kind,
                                                                        const Json& params);

}  // namespace dsagent
