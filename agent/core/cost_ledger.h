// CostLedger: usage and USD cost per model over a run, priced with configs/models.yaml at the time
// of each call. Cache-hit rate = hit / (hit + miss) input tokens.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "agent/config/model_catalog.h"
#include "agent/providers/provider.h"

namespace dsagent {

struct ModelTotals {
  int calls = 0;
  Usage usage;
  double cost_usd = 0;
  bool priced = true;  // false when a call used a model with no price in the catalog
};

class CostLedger {
 public:
  explicit CostLedger(const ModelCatalog& catalog) : catalog_(&catalog) {}

  // Records one call and returns its cost in USD (0 when the model has no price at `when`).
  double Record(const std::string& model, const Usage& usage,
                std::chrono::system_clock::time_point when);

  double total_cost_usd() const { return total_cost_usd_; }
  Usage total_usage() const;
  const std::map<std::string, ModelTotals>& per_model() const { return per_model_; }

 private:
  const ModelCatalog* catalog_;
  std::map<std::string, ModelTotals> per_model_;
  double total_cost_usd_ = 0;
};

// Cost of `usage` at `price`: hit*p_hit + miss*p_miss + output*p_out, per 1M tokens. Reasoning
// tokens are part of output and not billed twice.
double UsageCostUsd(const Usage& usage, const Price& price);

// {"input_cache_hit","input_cache_miss","output","reasoning"}: usage as traces and envelopes show it.
Json UsageToJson(const Usage& usage);

// hit / (hit + miss), or 0 when there was no input.
double CacheHitRate(const Usage& usage);

}  // namespace dsagent
