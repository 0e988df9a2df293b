#include "agent/config/config.h"

#include <initializer_list>
#include <stdexcept>

#include "agent/config/closest_key.h"
#include "agent/config/config_file.h"
#include "agent/config/config_schema.h"
#include "agent/config/scalar.h"
#include "agent/config/yaml_util.h"
#include "common/process_env.h"
#include "common/xdg.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;

constexpr std::string_view kApiKeySuffix = ".api_key";
constexpr std::string_view kRepoConfigPath = ".dsagent/config.yaml";

// Accumulates layers over the defaults, collecting every error instead of stopping at the first.
class Merger {
 public:
  explicit Merger(const ConfigSchema& schema) : schema_(schema) {
    for (const std::string& key : schema.Keys()) {
      values_[key] = {schema.Find(key)->default_value, ConfigSourceKind::kDefault, "default"};
    }
  }

  void ApplyFile(const fs::path& path, ConfigSourceKind kind, const std::string& label) {
    auto settings = ReadConfigFile(path, schema_);
    if (!settings) {
      errors_.push_back(settings.error());
      return;
    }
    // Read second: a malformed file has already been reported once.
    auto servers = ReadMcpServersFromFile(path, label);
    if (!servers) {
      errors_.push_back(servers.error());
    } else {
      for (McpServerConfig& s : *servers) mcp_servers_[s.name] = std::move(s);
    }
    for (const ConfigFileSetting& s : *settings) {
      Set(s.key, s.value, kind, label + ":" + path.string());
      if (kind == ConfigSourceKind::kRepo) repo_settings_.push_back(s);
    }
  }

  // Sets `key` from text that did not come from a file: `what` names the origin for errors
  // ("environment variable X", "flag --k").
  void ApplyText(const std::string& key, const std::string& raw, ConfigSourceKind kind,
                 const std::string& source, const std::string& what) {
    const ConfigKeySpec* spec = schema_.Find(key);
    if (spec == nullptr) {
      errors_.push_back(what + ": unknown key '" + key + "'" + DidYouMean(key, schema_.Keys()));
      return;
    }
    auto canonical = ConfigSchema::Check(*spec, raw);
    if (!canonical) {
      errors_.push_back(what + ": '" + key + "' " + canonical.error() + ", got " +
                        QuoteForError(key, raw));
      return;
    }
    Set(key, std::move(*canonical), kind, source);
  }

  void ApplyEnvironment(const std::map<std::string, std::string>& env) {
    // The conventional DeepSeek variables first, so the specific DSAGENT_* ones can override them.
    static const std::pair<const char*, std::vector<std::string>> kDeepSeekVars[] = {
        {"DEEPSEEK_API_KEY",
         {"providers.deepseek.api_key", "providers.deepseek-anthropic.api_key"}},
        {"DEEPSEEK_BASE_URL",
         {"providers.deepseek.base_url", "providers.deepseek-anthropic.base_url"}},
    };
    for (const auto& [var, keys] : kDeepSeekVars) {
      const std::string* value = Lookup(env, var);
      if (value == nullptr) continue;
      for (const std::string& key : keys) ApplyEnv(key, *value, var);
    }
    for (const std::string& key : schema_.Keys()) {
      const std::string var = EnvVarName(key);
      if (const std::string* value = Lookup(env, var)) ApplyEnv(key, *value, var);
    }
  }

  // For each "<p>.api_key" still empty, reads the variable named by "<p>.api_key_env".
  void ApplyApiKeyIndirection(const std::map<std::string, std::string>& env) {
    for (const std::string& key : schema_.Keys()) {
      if (!EndsWithApiKey(key) || !values_.count(key + "_env")) continue;
      if (!values_[key].value.empty()) continue;
      const std::string& var = values_[key + "_env"].value;
      if (const std::string* value = Lookup(env, var)) ApplyEnv(key, *value, var);
    }
  }

  // API keys written into the repository file are likely to end up in version control.
  std::vector<std::string> RepoSecretWarnings() {
    std::vector<std::string> warnings;
    for (const ConfigFileSetting& s : repo_settings_) {
      if (!IsSecretKey(s.key) || s.value.empty()) continue;
      std::string hint = "the user config file or the environment";
      if (auto it = values_.find(s.key + "_env");
          it != values_.end() && !it->second.value.empty()) {
        hint = "the environment variable " + it->second.value;
      }
      warnings.push_back(s.where + ": " + s.key +
                         " is set in a repository config file, which may be committed; move it "
                         "to " +
                         hint);
    }
    return warnings;
  }

  std::map<std::string, ConfigValue>& values() { return values_; }
  std::vector<McpServerConfig> mcp_servers() const {
    std::vector<McpServerConfig> out;
    for (const auto& [name, server] : mcp_servers_) out.push_back(server);
    return out;
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  static bool EndsWithApiKey(const std::string& key) {
    return key.size() > kApiKeySuffix.size() &&
           key.compare(key.size() - kApiKeySuffix.size(), kApiKeySuffix.size(), kApiKeySuffix) == 0;
  }

  // Empty variables count as unset: `FOO= dsagent` is a common way to clear one.
  static const std::string* Lookup(const std::map<std::string, std::string>& env,
                                   const std::string& var) {
    auto it = env.find(var);
    return it == env.end() || it->second.empty() ? nullptr : &it->second;
  }

  // A later layer replaces a value, but appends to a list (after the entries of the layers below).
  void Set(const std::string& key, std::string canonical, ConfigSourceKind kind,
           const std::string& source) {
    ConfigValue& v = values_[key];
    if (schema_.Find(key)->type != ConfigType::kStringList) {
      v = {std::move(canonical), kind, source};
      return;
    }
    std::vector<std::string> merged = ParseListValue(v.value);
    for (std::string& entry : ParseListValue(canonical)) merged.push_back(std::move(entry));
    v = {CanonicalListValue(merged), kind, v.source + " + " + source};
  }

  void ApplyEnv(const std::string& key, const std::string& value, const std::string& var) {
    ApplyText(key, value, ConfigSourceKind::kEnv, "env:" + var, "environment variable " + var);
  }

  const ConfigSchema& schema_;
  std::map<std::string, ConfigValue> values_;
  std::vector<ConfigFileSetting> repo_settings_;
  std::vector<std::string> errors_;
  std::map<std::string, McpServerConfig> mcp_servers_;  // by name; a later file replaces
};

// Calling GetInt on a string key is a programming error, not a user error.
void RequireType(const std::string& key, const char* getter,
                 std::initializer_list<ConfigType> accepted) {
  const ConfigType type = ConfigSchema::BuiltIn().Find(key)->type;
  for (ConfigType t : accepted) {
    if (t == type) return;
  }
  throw std::logic_error("Config: " + std::string(getter) + "(\"" + key + "\") on a key that is " +
                         DescribeConfigType(type));
}

std::string MaskSecret(const std::string& value) {
  if (value.empty()) return "(unset)";
  constexpr size_t kMinLengthToShowTail = 8;  // a shorter secret would be mostly revealed
  if (value.size() < kMinLengthToShowTail) return "****";
  return "****" + value.substr(value.size() - 4);
}

}  // namespace

Expected<Config, std::string> Config::Load(const ConfigLoadOptions& options) {
  const ConfigSchema& schema = ConfigSchema::BuiltIn();
  Merger merger(schema);
  const fs::path user_file =
      options.user_file.value_or(XdgConfigHome() / "dsagent" / "config.yaml");
  merger.ApplyFile(user_file, ConfigSourceKind::kUser, "user");
  if (!options.repo_dir.empty()) {
    merger.ApplyFile(options.repo_dir / kRepoConfigPath, ConfigSourceKind::kRepo, "repo");
  }
  merger.ApplyEnvironment(options.env);
  merger.ApplyApiKeyIndirection(options.env);
  for (const auto& [key, value] : options.flags) {
    merger.ApplyText(key, value, ConfigSourceKind::kFlag, "flag:--" + key, "flag --" + key);
  }
  if (!merger.errors().empty()) return MakeUnexpected(JoinLines(merger.errors()));
  Config config;
  config.warnings_ = merger.RepoSecretWarnings();
  config.values_ = std::move(merger.values());
  config.mcp_servers_ = merger.mcp_servers();
  return config;
}

std::map<std::string, std::string> Config::ProcessEnvironment() {
  return dsagent::ProcessEnvironment();
}

const ConfigValue& Config::Get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    throw std::logic_error("Config: unknown key '" + key + "' (not in configs/default.yaml)");
  }
  return it->second;
}

std::string Config::GetString(const std::string& key) const { return Get(key).value; }

// The stored text was validated by ConfigSchema::Check, so these parses cannot fail.
int64_t Config::GetInt(const std::string& key) const {
  const ConfigValue& value = Get(key);
  RequireType(key, "GetInt", {ConfigType::kInt});
  return *ParseInt64(value.value);
}

double Config::GetDouble(const std::string& key) const {
  const ConfigValue& value = Get(key);
  RequireType(key, "GetDouble", {ConfigType::kDouble, ConfigType::kInt});
  return *ParseFiniteDouble(value.value);
}

std::vector<std::string> Config::GetStringList(const std::string& key) const {
  const ConfigValue& value = Get(key);
  RequireType(key, "GetStringList", {ConfigType::kStringList});
  return ParseListValue(value.value);
}

bool Config::GetBool(const std::string& key) const {
  const ConfigValue& value = Get(key);
  RequireType(key, "GetBool", {ConfigType::kBool});
  return *ParseBool(value.value);
}

std::string Config::Show() const {
  std::string out;
  for (const auto& [key, value] : values_) {
    const std::string shown = IsSecretKey(key)      ? MaskSecret(value.value)
                              : value.value.empty() ? "\"\""
                                                    : value.value;
    out += key + " = " + shown + "  # " + value.source + "\n";
  }
  return out;
}

}  // namespace dsagent
