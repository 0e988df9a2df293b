#include "tools/permissions/verdict.h"

#include "common/name_table.h"

namespace dsagent {
namespace {
constexpr EnumName<Decision> kDecisionNames[] = {
    {Decision::kAllow, "allow"}, {Decision::kAsk, "ask"}, {Decision::kDeny, "deny"}};
}  // namespace

std::string DecisionName(Decision decision) {
  return std::string(NameOf(kDecisionNames, decision));
}

std::optional<Decision> ParseDecision(std::string_view name) {
  return ValueNamed(kDecisionNames, name);
}

Decision MostRestrictive(Decision a, Decision b) {
  return static_cast<int>(a) >= static_cast<int>(b) ? a : b;
}

}  // namespace dsagent
