// Cache-aware compaction: when the next request would not fit the context window, the oldest tool
// results are replaced by stubs once (Context::PlanCompaction), the compaction is recorded in the
// trace (so resume replays it and sends the same bytes), and the one-time cost of the cache miss it
// causes is worked out. Used by the agent loop (budget) and by `/compact` in chat (on request).
#pragma once

#include <string>

#include "agent/config/model_catalog.h"
#include "agent/core/context.h"
#include "agent/core/trace.h"
#include "common/expected.h"

namespace dsagent {

// Whether a request of `context`'s size, with room for `max_output_tokens`, exceeds
// `context_tokens` (0: no limit).
bool ExceedsContextBudget(const Context& context, int64_t context_tokens,
                          int64_t max_output_tokens);

// The prompt size a compaction aims for: half of what the window leaves after the output, so the
// session runs a long while on the new prefix before it would need another.
int64_t CompactionTarget(int64_t context_tokens, int64_t max_output_tokens);

// Extra spend of the one cache miss a compaction causes: its uncached tokens at the miss price
// instead of the hit price of `model` (0 when the model has no price).
double CompactionMissCostUsd(const Compaction& compaction, const ModelCatalog& catalog,
                             const std::string& model);

// One line for a person: "context compacted: 12 tool results elided (~80.1k -> ~31.0k tokens);
// the next request re-reads ~29.0k tokens uncached once (about $0.0040)".
std::string DescribeCompaction(const Compaction& compaction, double miss_cost_usd);

// Plans a compaction to `target_tokens`, applies it to `context` and appends its "compaction"
// event (`reason`: "budget" or "requested"; `extra` fields added) to `trace`. Returns the
// compaction, empty (and nothing recorded) when there was nothing to elide. Error: a trace write
// failure (the context is then left uncompacted).
Expected<Compaction, std::string> CompactAndRecord(Context& context, int64_t target_tokens,
                                                   const std::string& reason, Json extra,
                                                   TraceWriter& trace);

}  // namespace dsagent
