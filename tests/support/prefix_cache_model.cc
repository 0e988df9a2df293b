#include "tests/support/prefix_cache_model.h"

#include <algorithm>

namespace dsagent::testing {

int64_t EstimateTokens(size_t bytes) { return static_cast<int64_t>((bytes + 3) / 4); }

int64_t PrefixTokens(const PromptItems& items, size_t count) {
  size_t bytes = 0;
  for (size_t i = 0; i < count && i < items.size(); ++i) bytes += items[i].size();
  return EstimateTokens(bytes);
}

int64_t PrefixCacheModel::HitTokens(const std::string& partition, const PromptItems& items) const {
  auto it = units_.find(partition);
  if (it == units_.end()) return 0;
  size_t best = 0;
  for (const PromptItems& unit : it->second) {
    if (unit.size() <= items.size() && unit.size() > best &&
        std::equal(unit.begin(), unit.end(), items.begin())) {
      best = unit.size();
    }
  }
  return PrefixTokens(items, best);
}

void PrefixCacheModel::Persist(const std::string& partition, const PromptItems& items) {
  auto& units = units_[partition];
  if (std::find(units.begin(), units.end(), items) == units.end()) units.push_back(items);
}

}  // namespace dsagent::testing
