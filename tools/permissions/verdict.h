// What the permission check says about one tool call: run it, ask the user first, or refuse.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dsagent {

enum class Decision { kAllow, kAsk, kDeny };

// "allow", "ask", "deny".
std::string DecisionName(Decision decision);
// The inverse of DecisionName; nullopt for anything else.
std::optional<Decision> ParseDecision(std::string_view name);
// The more restrictive of the two: deny over ask over allow.
Decision MostRestrictive(Decision a, Decision b);

struct Verdict {
  Decision decision = Decision::kAllow;
  // One line saying why, for the user (approval prompt) and the model (a refusal); "" for a plain
  // allow. E.g. "\"npm test\" needs approval: shell commands ask in mode ask".
  std::string reason;
  // For kAsk: the rule pattern that answering "always" would allow for this tool from now on
  // ("git status *", "src/**"); "" when no pattern safely covers the call (then "always" means
  // this exact call).
  std::string always_pattern;
};

}  // namespace dsagent
