// The lane flags `run`, `chat` and `eval` share (--provider, --model, --thinking, --effort,
// --policy), declared once so every command checks them the same way.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

namespace dsagent {

struct LaneFlags {
  std::string provider, model, thinking, effort, policy;  // "" = not given
};

// Declares the five flags on `cmd`, writing `flags`; --provider, --thinking and --effort accept
// only their known values (a usage error otherwise).
void AddLaneOptions(CLI::App& cmd, LaneFlags& flags);

// The given flags as config overrides (dotted key, value) appended to `overrides`; a pinned model
// turns routing off, as everywhere else. `policy` is left out when `with_policy` is false (for a
// caller that passes the policy on by itself).
void AppendLaneOverrides(const LaneFlags& flags,
                         std::vector<std::pair<std::string, std::string>>& overrides,
                         bool with_policy = true);

}  // namespace dsagent
