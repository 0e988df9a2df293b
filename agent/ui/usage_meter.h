// UsageMeter: what a session has used so far — calls, tokens and cost per model, the last call's
// usage, each call's cache-hit rate this turn — for the status line, /cost and /cache. Counts the
// calls of this process plus, for a resumed session, those its trace already holds.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/cost_ledger.h"
#include "common/json.h"

namespace dsagent {

class UsageMeter {
 public:
  // Marks the start of a turn: turn_* figures count from here.
  void BeginTurn();
  void RecordCall(const std::string& model, const Usage& usage, double cost_usd);
  // Adds the calls recorded in a trace (its "response" events), e.g. of a resumed session. They
  // count for the session totals, not for the last call or the turn.
  void SeedFromTrace(const std::vector<Json>& events);
  // The same for one event (a trace streamed event by event); other event types are ignored.
  void SeedFromEvent(const Json& event);

  Usage session_usage() const;
  double session_cost_usd() const;
  int session_calls() const;
  const std::map<std::string, ModelTotals>& per_model() const { return per_model_; }

  double turn_cost_usd() const { return turn_cost_usd_; }
  const std::vector<Usage>& turn_calls() const { return turn_calls_; }
  const std::optional<Usage>& last_call() const { return last_call_; }
  const std::string& last_model() const { return last_model_; }
  // Tokens in the context after the last call: its prompt plus its output; 0 before any call.
  int64_t context_tokens() const;

 private:
  std::map<std::string, ModelTotals> per_model_;
  std::vector<Usage> turn_calls_;
  double turn_cost_usd_ = 0;
  std::optional<Usage> last_call_;
  std::string last_model_;
};

// "/cost": the session's cost and tokens per model, and the last turn's.
std::string FormatCostReport(const UsageMeter& meter);
// "/cache": cache-hit rate of the last call, the turn's calls and the session, with the tokens
// behind them, and a hint when the last call missed most of its prompt.
std::string FormatCacheReport(const UsageMeter& meter);

// "12.3k", "1.0M", "850".
// "42%" for a rate in [0, 1].
std::string Percent(double rate);
// "$0.0123": costs with four decimals (cache-hit calls cost fractions of a cent).
std::string Usd(double usd);

std::string CompactTokens(int64_t tokens);

}  // namespace dsagent
