#include "tools/permissions/verdict.h"

namespace dsagent {

std::string DecisionName(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return "allow";
    case Decision::kAsk:
      return "ask";
    case Decision::kDeny:
      break;
  }
  return "deny";
}

std::optional<Decision> ParseDecision(std::string_view name) {
  if (name == "allow") return Decision::kAllow;
  if (name == "ask") return Decision::kAsk;
  if (name == "deny") return Decision::kDeny;
  return std::nullopt;
}

Decision MostRestrictive(Decision a, Decision b) {
  return static_cast<int>(a) >= static_cast<int>(b) ? a : b;
}

}  // namespace dsagent
