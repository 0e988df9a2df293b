#include "agent/core/run_envelope.h"

namespace dsagent {
namespace {
Json TokensJson(const Usage& u) {
  return {{"input_cache_hit", u.input_cache_hit},
          {"input_cache_miss", u.input_cache_miss},
          {"output", u.output},
          {"reasoning", u.reasoning}};
}
}  // namespace

Json EnvelopeToJson(const RunEnvelope& e) {
  Json models = Json::object();
  for (const auto& [id, t] : e.models) {
    models[id] = {{"calls", t.calls},
                  {"tokens", TokensJson(t.usage)},
                  {"cost_usd", t.cost_usd},
                  {"priced", t.priced}};
  }
  Json j = {{"status", e.termination.Status()},
            {"termination_reason", e.termination.reason},
            {"exit_code", e.termination.ExitCode()},
            {"result", e.result},
            {"session_id", e.session_id},
            {"steps", e.steps},
            {"cost_usd", e.cost_usd},
            {"tokens", TokensJson(e.usage)},
            {"cache_hit_rate", CacheHitRate(e.usage)},
            {"models", models}};
  if (!e.termination.message.empty()) j["error"] = e.termination.message;
  return j;
}

}  // namespace dsagent
