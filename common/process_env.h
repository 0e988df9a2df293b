// This process's environment as a sorted map, read from `environ`: what configuration layers and
// the tool-subprocess environment policy (tools/env_policy.h) start from.
#pragma once

#include <map>
#include <string>

namespace dsagent {

// A snapshot of `environ` (name -> value). Entries without '=' are skipped; for a name set twice
// the first entry wins, as getenv() sees it. Not safe against concurrent setenv().
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace dsagent
