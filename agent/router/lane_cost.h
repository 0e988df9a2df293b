// Expected USD cost of sending the next call, or the next few, to a lane — including the cache
// miss of the tokens that lane's model has not seen yet. DeepSeek's prefix cache is per model, so
// switching models re-bills every token the other model has not cached at the miss price.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "agent/config/model_catalog.h"
#include "agent/router/step_features.h"

namespace dsagent {

struct LaneCostEstimate {
  int64_t unseen_tokens = 0;  // billed at the cache-miss price on the next call
  int64_t cached_tokens = 0;  // billed at the cache-hit price
  double next_call_usd = 0;   // the next call alone
  double horizon_usd = 0;     // the next `horizon_steps` calls if they all go to this lane
  bool priced = true;         // false: the model has no price in the catalog (costs count as 0)
};

// `growth_tokens`: expected new prompt tokens per later step (the tail each step appends).
LaneCostEstimate EstimateLaneCost(const ModelCatalog& catalog, const std::string& model,
                                  const StepFeatures& features, int horizon_steps,
                                  int64_t growth_tokens,
                                  std::chrono::system_clock::time_point when);

}  // namespace dsagent
