// Router: before every model call, picks the lane (model, thinking, effort) from a routing policy,
// an optional cache-aware check on cost-motivated switches, and effort rules — and describes the
// decision for the trace. Policies come from configs/routing/<name>.yaml (embedded) or a YAML file:
//
//   policy: escalate-on-failure        # a kind from routing_policy.h
//   params: {failures: 2, pro_steps: 0}
//   lanes:                             # the cheap and the strong lane
//     flash: {model: deepseek-v4-flash, thinking: true, effort: high}
//     pro:   {model: deepseek-v4-pro,   thinking: true, effort: max}
//   mechanical_thinking_off: false     # thinking off on Flash right after a step of pure edits
//   cache_aware: {enabled: true, horizon_steps: 5, stickiness: 0.1}
//
// Not thread-safe; one per run.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "agent/config/model_catalog.h"
#include "agent/providers/provider.h"
#include "agent/router/routing_policy.h"
#include "agent/router/step_features.h"
#include "common/expected.h"

namespace dsagent {

struct RouteDecision {
  Lane lane;
  std::string reason;
  Json record;  // the trace's "route" event body: policy, features, lane, alternatives, reason
};

class Router {
 public:
  // `name_or_file`: a policy name (configs/routing/<name>.yaml, embedded) or a path to a YAML
  // file. Error: unknown name (listing the built-in ones), unreadable file, or invalid content.
  static Expected<std::unique_ptr<Router>, std::string> Load(const std::string& name_or_file,
                                                             const ModelCatalog& catalog);
  // Parses a policy document; `source` names it in errors.
  static Expected<std::unique_ptr<Router>, std::string> Parse(const std::string& yaml_text,
                                                              const std::string& source,
                                                              const ModelCatalog& catalog);

  // Chooses the lane for the call described by `features`.
  RouteDecision Decide(const StepFeatures& features, std::chrono::system_clock::time_point now =
                                                         std::chrono::system_clock::now());

  const std::string& name() const { return name_; }
  const Lane& flash_lane() const { return flash_; }
  const Lane& pro_lane() const { return pro_; }

 private:
  // Parse after the YAML and the document shape are checked; may throw Json::exception on a
  // value of the wrong type (Parse turns that into an error).
  static Expected<std::unique_ptr<Router>, std::string> ParseChecked(const Json& doc,
                                                                     const std::string& source,
                                                                     const ModelCatalog& catalog);
  Router(const ModelCatalog& catalog) : catalog_(catalog) {}

  const ModelCatalog& catalog_;
  std::string name_;
  std::unique_ptr<RoutingPolicy> policy_;
  Lane flash_, pro_;
  bool mechanical_thinking_off_ = false;
  bool cache_aware_ = false;
  int horizon_steps_ = 5;
  double stickiness_ = 0.1;
  bool on_pro_ = false;  // the lane of the previous call
  bool called_ = false;
};

// Names of the embedded policies (configs/routing/*.yaml), sorted.
std::vector<std::string> BuiltInRoutingPolicies();

}  // namespace dsagent
