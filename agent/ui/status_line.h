// The status line printed after each turn: lane, context size, session cost, cache-hit rates.
// Fields that do not fit a narrow terminal are dropped, least important first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "agent/providers/provider.h"

namespace dsagent {

struct StatusFields {
  Lane lane;                   // the last call's lane (or the next one before any call)
  std::string policy;          // routing policy; "" when the lane is pinned
  int64_t context_tokens = 0;  // prompt + output of the last call
  int64_t context_window = 0;  // the model's window; 0 when unknown
  double session_cost_usd = 0;
  double turn_cost_usd = 0;
  std::optional<double> last_hit;     // cache-hit rate of the last call
  std::optional<double> session_hit;  // over the session
};

// "flash·high" (thinking, effort), "pro·max", "flash·no-think"; ids outside the deepseek-v4-
// family stay whole.
std::string LaneLabel(const Lane& lane);

// One line of at most `width` columns (0 = unlimited), e.g.
// "flash·high [cache-aware] │ ctx 12.3k/1.0M │ $0.0123 (turn $0.0021) │ cache 97% last · 91%
// session"
std::string FormatStatusLine(const StatusFields& fields, int width);

}  // namespace dsagent
