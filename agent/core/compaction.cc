#include "agent/core/compaction.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace dsagent {

bool ExceedsContextBudget(const Context& context, int64_t context_tokens,
                          int64_t max_output_tokens) {
  return context_tokens > 0 && context.EstimatedTokens() + max_output_tokens > context_tokens;
}

int64_t CompactionTarget(int64_t context_tokens, int64_t max_output_tokens) {
  return std::max<int64_t>(0, context_tokens - max_output_tokens) / 2;
}

double CompactionMissCostUsd(const Compaction& compaction, const ModelCatalog& catalog,
                             const std::string& model) {
  const auto price = catalog.PriceAt(model, std::chrono::system_clock::now());
  if (!price) return 0;
  return static_cast<double>(compaction.uncached_tokens) *
         (price->input_cache_miss_per_mtok - price->input_cache_hit_per_mtok) / 1e6;
}

namespace {
std::string Tokens(int64_t n) {
  char buf[32];
  if (n >= 1000) {
    std::snprintf(buf, sizeof buf, "~%.1fk", static_cast<double>(n) / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "~%lld", static_cast<long long>(n));
  }
  return buf;
}
}  // namespace

std::string DescribeCompaction(const Compaction& c, double miss_cost_usd) {
  char cost[48];
  std::snprintf(cost, sizeof cost, " (about $%.4f)", miss_cost_usd);
  const size_t n = c.replaced.size();
  return "context compacted: " + std::to_string(n) + " tool result" + (n == 1 ? "" : "s") +
         " elided (" + Tokens(c.tokens_before) + " -> " + Tokens(c.tokens_after) +
         " tokens); the next request re-reads " + Tokens(c.uncached_tokens) +
         " tokens uncached once" + (miss_cost_usd > 0 ? cost : "");
}

Expected<Compaction, std::string> CompactAndRecord(Context& context, int64_t target_tokens,
                                                   const std::string& reason, Json extra,
                                                   TraceWriter& trace) {
  Compaction compaction = context.PlanCompaction(target_tokens);
  if (compaction.empty()) return compaction;
  Json event = CompactionToJson(compaction);
  event.update(extra);
  event["type"] = "compaction";
  event["reason"] = reason;
  // The trace first: a compaction that is not recorded must not happen, or resume would send
  // other bytes than this session did.
  if (auto w = trace.Append(std::move(event)); !w) return MakeUnexpected(w.error());
  if (auto applied = context.ApplyCompaction(compaction); !applied) {
    return MakeUnexpected(applied.error());
  }
  return compaction;
}

}  // namespace dsagent
