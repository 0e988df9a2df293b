// The `dsagent run --json` result object (one per run, on stdout) — also the trace's "end" event.
// Fields: status, termination_reason, exit_code, result, session_id, steps, cost_usd,
// tokens{input_cache_hit,input_cache_miss,output,reasoning}, cache_hit_rate, models{<id>:{...}},
// and error (only when the run failed).
#pragma once

#include <map>
#include <string>

#include "agent/core/cost_ledger.h"
#include "agent/core/termination.h"

namespace dsagent {

struct RunEnvelope {
  Termination termination;
  std::string result;
  std::string session_id;
  int steps = 0;
  double cost_usd = 0;
  Usage usage;
  std::map<std::string, ModelTotals> models;
};

Json EnvelopeToJson(const RunEnvelope& envelope);

// Folds one more run of the same job (a fix-up round, an eval retry) into `total`: counts and
// usage add up, per-model totals merge, and the termination, session and (non-empty) result are
// the latest run's.
void AccumulateRun(RunEnvelope& total, const RunEnvelope& run);

}  // namespace dsagent
