#include "agent/core/run_envelope.h"

namespace dsagent {

Json EnvelopeToJson(const RunEnvelope& e) {
  Json models = Json::object();
  for (const auto& [id, t] : e.models) {
    models[id] = {{"calls", t.calls},
                  {"tokens", UsageToJson(t.usage)},
                  {"cost_usd", t.cost_usd},
                  {"priced", t.priced}};
  }
  Json j = {{"status", e.termination.Status()},
            {"termination_reason", e.termination.Name()},
            {"exit_code", e.termination.ExitCode()},
            {"result", e.result},
            {"session_id", e.session_id},
            {"steps", e.steps},
            {"cost_usd", e.cost_usd},
            {"tokens", UsageToJson(e.usage)},
            {"cache_hit_rate", CacheHitRate(e.usage)},
            {"models", models}};
  if (!e.termination.message.empty()) j["error"] = e.termination.message;
  return j;
}

void AccumulateRun(RunEnvelope& total, const RunEnvelope& run) {
  total.termination = run.termination;
  if (!run.result.empty()) total.result = run.result;
  total.session_id = run.session_id;
  total.steps += run.steps;
  total.cost_usd += run.cost_usd;
  total.usage += run.usage;
  for (const auto& [model, t] : run.models) {
    ModelTotals& m = total.models[model];
    m.calls += t.calls;
    m.usage += t.usage;
    m.cost_usd += t.cost_usd;
    m.priced = m.priced && t.priced;
  }
}

}  // namespace dsagent
