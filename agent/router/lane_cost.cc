#include "agent/router/lane_cost.h"

#include <algorithm>

namespace dsagent {

LaneCostEstimate EstimateLaneCost(const ModelCatalog& catalog, const std::string& model,
                                  const StepFeatures& f, int horizon_steps, int64_t growth_tokens,
                                  std::chrono::system_clock::time_point when) {
  LaneCostEstimate e;
  auto it = f.unseen_tokens.find(model);
  e.unseen_tokens = it == f.unseen_tokens.end() ? f.context_tokens : it->second;
  e.cached_tokens = std::max<int64_t>(0, f.context_tokens - e.unseen_tokens);
  const auto price = catalog.PriceAt(model, when);
  if (!price) {
    e.priced = false;
    return e;
  }
  const auto usd = [&](double tokens, double per_mtok) { return tokens * per_mtok / 1e6; };
  const double out = usd(static_cast<double>(f.mean_output_tokens), price->output_per_mtok);
  e.next_call_usd = usd(static_cast<double>(e.unseen_tokens), price->input_cache_miss_per_mtok) +
                    usd(static_cast<double>(e.cached_tokens), price->input_cache_hit_per_mtok) +
                    out;
  e.horizon_usd = e.next_call_usd;
  // Later calls on the same lane: the whole context is cached except the new tail.
  int64_t context = f.context_tokens;
  for (int i = 1; i < horizon_steps; ++i) {
    context += growth_tokens;
    e.horizon_usd +=
        usd(static_cast<double>(growth_tokens), price->input_cache_miss_per_mtok) +
        usd(static_cast<double>(context - growth_tokens), price->input_cache_hit_per_mtok) + out;
  }
  return e;
}

}  // namespace dsagent
