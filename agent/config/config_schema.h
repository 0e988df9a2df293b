// The set of configuration keys, their types and default values, as defined by
// configs/default.yaml. Internal to agent/config; Config is the public face.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace dsagent {

// kStringList: a YAML list of strings. Unlike the other types, a list accumulates over the layers:
// each layer appends its entries after those of the layers below (see Config::Load).
enum class ConfigType { kString, kBool, kInt, kDouble, kStringList };

// "a string", "a boolean (true/false/on/off/yes/no/1/0)", "an integer", "a number",
// "a list of strings".
std::string DescribeConfigType(ConfigType type);

struct ConfigKeySpec {
  std::string key;                          // dotted, e.g. "providers.deepseek.base_url"
  ConfigType type;                          // inferred from how default.yaml writes the value
  std::string default_value;                // canonical form (see ConfigSchema::Check)
  std::vector<std::string> allowed_values;  // non-empty for enumerated strings ("provider")
};

// The environment variable for a key: "DSAGENT_" + upper(key) with "." -> "__" and "-" -> "_",
// e.g. "tools.bash_timeout_s" -> "DSAGENT_TOOLS__BASH_TIMEOUT_S".
std::string EnvVarName(std::string_view key);

// True for keys holding secrets (any key ending in "api_key"): their values are masked in
// `config show` and never echoed in error messages.
bool IsSecretKey(std::string_view key);

// The value quoted for an error message ("\"abc\"", cut after about 60 bytes on a UTF-8 boundary),
// or "(hidden)" for a secret key.
std::string QuoteForError(std::string_view key, std::string_view value);

// Immutable after construction; safe to share between threads.
class ConfigSchema {
 public:
  // Builds the schema from a defaults file. Types: a plain true/false is a boolean, a plain
  // integer an integer, a plain decimal a number, a list (of strings, possibly empty) a list of
  // strings, anything else (or quoted) a string. Error: the file is malformed, not a mapping, has
  // a leaf that is neither a value nor a list of values, violates its own enumerations, or two
  // keys share an environment variable name.
  static Expected<ConfigSchema, std::string> FromDefaults(std::string_view yaml_text,
                                                          std::string_view source_name);

  // The schema of the embedded configs/default.yaml. Throws std::logic_error if that file is
  // broken: a build defect, caught by the tests.
  static const ConfigSchema& BuiltIn();

  // nullptr for an unknown key.
  const ConfigKeySpec* Find(std::string_view key) const;
  // All keys, sorted.
  const std::vector<std::string>& Keys() const { return keys_; }
  // True if `key` names a group of keys ("providers", "providers.deepseek") rather than a value.
  bool IsSection(std::string_view key) const;

  // Validates `raw` for `spec` and returns its canonical form: booleans as "true"/"false",
  // integers without leading zeros, numbers and strings as written, lists as a JSON array of
  // strings. For a list, `raw` is a YAML/JSON flow list ("[a, 'b c']") or else one entry. Error:
  // what was expected, e.g. "expects an integer" or "expects one of high | max" (never echoes the
  // value).
  static Expected<std::string, std::string> Check(const ConfigKeySpec& spec, std::string_view raw);

 private:
  std::map<std::string, ConfigKeySpec, std::less<>> specs_;
  std::vector<std::string> keys_;
};

// A list setting's canonical form (a JSON array of strings) and back. ParseListValue expects the
// canonical form (as stored in a ConfigValue) and returns no entries for anything else.
std::string CanonicalListValue(const std::vector<std::string>& entries);
std::vector<std::string> ParseListValue(std::string_view canonical);

}  // namespace dsagent
