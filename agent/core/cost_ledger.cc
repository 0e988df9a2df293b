#include "agent/core/cost_ledger.h"

namespace dsagent {

double UsageCostUsd(const Usage& usage, const Price& price) {
  return (static_cast<double>(usage.input_cache_hit) * price.input_cache_hit_per_mtok +
          static_cast<double>(usage.input_cache_miss) * price.input_cache_miss_per_mtok +
          static_cast<double>(usage.output) * price.output_per_mtok) /
         1e6;
}

Json UsageToJson(const Usage& u) {
  return {{"input_cache_hit", u.input_cache_hit},
          {"input_cache_miss", u.input_cache_miss},
          {"output", u.output},
          {"reasoning", u.reasoning}};
}

double CacheHitRate(const Usage& usage) {
  const int64_t total = usage.input_cache_hit + usage.input_cache_miss;
  return total == 0 ? 0.0 : static_cast<double>(usage.input_cache_hit) / static_cast<double>(total);
}

double CostLedger::Record(const std::string& model, const Usage& usage,
                          std::chrono::system_clock::time_point when) {
  ModelTotals& t = per_model_[model];
  t.calls += 1;
  t.usage += usage;
  double cost = 0;
  if (auto price = catalog_->PriceAt(model, when)) {
    cost = UsageCostUsd(usage, *price);
  } else {
    t.priced = false;
  }
  t.cost_usd += cost;
  total_cost_usd_ += cost;
  return cost;
}

Usage CostLedger::total_usage() const {
  Usage u;
  for (const auto& [model, t] : per_model_) u += t.usage;
  return u;
}

}  // namespace dsagent
