// EnvPolicy: which of dsagent's environment variables a tool subprocess (the bash tool, test
// commands of `patch` and `eval`, git run by evals) inherits. dsagent's own environment holds API
// keys and, in CI, the pipeline's tokens; a command the model runs must not be able to print them
// (`env | grep KEY`), since its output goes into the session trace and back to the provider. The
// default, like Codex's shell environment policy, inherits everything except variables whose names
// look secret and the provider's own variables. A policy is a value; building the environment is a
// pure function of the policy and the parent environment.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent {

using EnvMap = std::map<std::string, std::string>;  // name -> value, sorted by name

// What a subprocess starts from, before the secret filter:
//   kAll:  every variable of the parent;
//   kCore: only a small allow-list (HOME, LOGNAME, PATH, SHELL, USER, USERNAME, TMPDIR, TEMP,
//          TMP, TERM, COLORTERM, LANG, LANGUAGE, LC_*, TZ);
//   kNone: nothing (only `keep` and `set`).
enum class EnvInherit { kAll, kCore, kNone };

// "all" | "core" | "none" -> the value; nullopt for anything else.
std::optional<EnvInherit> ParseEnvInherit(std::string_view name);
std::string EnvInheritName(EnvInherit inherit);

struct EnvPolicy {
  EnvInherit inherit = EnvInherit::kAll;
  // Names passed through whenever the parent has them, whatever `inherit` and the secret filter
  // say. An entry may end in `*` to match a prefix (`AWS_*`); matching is exact otherwise.
  std::vector<std::string> keep;
  // Further names withheld like secrets (the provider's own variables, e.g. DEEPSEEK_BASE_URL,
  // or the variable a provider reads its key from), unless kept. NAME or PREFIX* as in `keep`.
  std::vector<std::string> withhold;
  // Set in the child last, over anything inherited; never reported as withheld.
  EnvMap set;
};

// True when `name` contains KEY, SECRET, TOKEN, PASSWORD or CREDENTIAL, ignoring case
// (DEEPSEEK_API_KEY, GITHUB_TOKEN, aws_secret_access_key, PGPASSWORD, ...).
bool LooksSecret(std::string_view name);

struct ChildEnvironment {
  EnvMap vars;  // the subprocess's whole environment
  // The parent's variables kept from the subprocess because they look secret (LooksSecret) or are
  // named by `withhold`, and not kept by `keep`: name -> value. Reported by name only (doctor,
  // config show); the values feed output redaction (tools/redactor.h). Filled in every `inherit`
  // mode, also for names kCore/kNone would have dropped anyway.
  EnvMap withheld;
};

// Applies `policy` to `parent` (usually ProcessEnvironment()). Never fails.
ChildEnvironment BuildChildEnvironment(const EnvPolicy& policy, const EnvMap& parent);

// The default policy applied to this process's environment: what a subprocess gets when the
// caller names no environment (ShellOptions::environment unset).
EnvMap DefaultChildEnvironment();

}  // namespace dsagent
