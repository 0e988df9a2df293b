#include "tools/env_policy.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/name_table.h"
#include "common/process_env.h"

namespace dsagent {
namespace {

// Codex's core set plus the locale, terminal and time zone, which commands need to behave as in
// the user's shell.
constexpr std::array<std::string_view, 15> kCoreNames = {
    "HOME", "LOGNAME", "PATH", "SHELL",    "USER", "USERNAME", "TMPDIR",   "TEMP",
    "TMP",  "TERM",    "LANG", "LANGUAGE", "LC_*", "TZ",       "COLORTERM"};

constexpr std::array<std::string_view, 5> kSecretWords = {"KEY", "SECRET", "TOKEN", "PASSWORD",
                                                          "CREDENTIAL"};

// `pattern` is a name, or a prefix followed by '*'.
bool MatchesName(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return name.substr(0, pattern.size()) == pattern;
  }
  return name == pattern;
}

template <typename Patterns>
bool MatchesAny(const Patterns& patterns, std::string_view name) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [name](std::string_view p) { return MatchesName(p, name); });
}

bool Inherited(EnvInherit inherit, std::string_view name) {
  switch (inherit) {
    case EnvInherit::kAll:
      return true;
    case EnvInherit::kCore:
      return MatchesAny(kCoreNames, name);
    case EnvInherit::kNone:
      return false;
  }
  return false;
}

}  // namespace

namespace {
constexpr EnumName<EnvInherit> kInheritNames[] = {
    {EnvInherit::kAll, "all"}, {EnvInherit::kCore, "core"}, {EnvInherit::kNone, "none"}};
}  // namespace

std::optional<EnvInherit> ParseEnvInherit(std::string_view name) {
  return ValueNamed(kInheritNames, name);
}

std::string EnvInheritName(EnvInherit inherit) {
  return std::string(NameOf(kInheritNames, inherit));
}

bool LooksSecret(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return std::any_of(kSecretWords.begin(), kSecretWords.end(),
                     [&upper](std::string_view word) { return upper.find(word) != upper.npos; });
}

ChildEnvironment BuildChildEnvironment(const EnvPolicy& policy, const EnvMap& parent) {
  ChildEnvironment child;
  for (const auto& [name, value] : parent) {
    if (MatchesAny(policy.keep, name)) {
      child.vars.emplace(name, value);
      continue;
    }
    if (LooksSecret(name) || MatchesAny(policy.withhold, name)) {
      child.withheld.emplace(name, value);
    } else if (Inherited(policy.inherit, name)) {
      child.vars.emplace(name, value);
    }
  }
  for (const auto& [name, value] : policy.set) child.vars[name] = value;
  return child;
}

EnvMap DefaultChildEnvironment() {
  return BuildChildEnvironment(EnvPolicy{}, ProcessEnvironment()).vars;
}

}  // namespace dsagent
