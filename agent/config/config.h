// The merged dsagent configuration: built-in defaults, then the user file, the repository file, the
// environment and command-line flags, each later layer overriding the earlier ones. Every value
// remembers where it came from so `dsagent config show` can explain it. Precedence and the
// environment mapping are documented in configs/README.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/config/mcp_servers_config.h"
#include "common/expected.h"

namespace dsagent {

enum class ConfigSourceKind { kDefault, kUser, kRepo, kEnv, kFlag };

struct ConfigValue {
  // Canonical text: booleans "true"/"false", integers without leading zeros, lists a JSON array
  // of strings.
  std::string value;
  ConfigSourceKind kind;  // for a list: the last layer that added to it
  // "default", "user:<path>", "repo:<path>", "env:<VAR>" or "flag:--<key>"; for a list, every
  // layer that contributed, joined by " + " ("default + repo:<path>").
  std::string source;
};

struct ConfigLoadOptions {
  // Where to look for .dsagent/config.yaml; empty: no repository layer.
  std::filesystem::path repo_dir;
  // The user file; nullopt: XdgConfigHome()/dsagent/config.yaml (XdgConfigHome reads the process
  // environment, not `env` below).
  std::optional<std::filesystem::path> user_file;
  // The environment to read; the CLI passes Config::ProcessEnvironment(), tests their own map.
  std::map<std::string, std::string> env;
  // (dotted key, value) pairs from the command line, applied in order (a later pair wins).
  std::vector<std::pair<std::string, std::string>> flags;
};

// An immutable snapshot of the merged configuration; safe to read from several threads.
class Config {
 public:
  // Reads and merges every layer. Later wins: defaults < user file < repo file < environment <
  // flags; except that list settings accumulate, each layer appending its entries. Within the
  // environment, DEEPSEEK_API_KEY / DEEPSEEK_BASE_URL fill both DeepSeek providers, then the more
  // specific DSAGENT_<KEY> variables override them. After every layer but the flags, each provider
  // whose api_key is still empty reads the variable named by its api_key_env. Missing files are
  // fine; empty environment variables count as unset. Error (all problems found, one per line):
  // malformed YAML ("<file>:<line>:<col>: ..."), an unknown key in a file or flag (naming the file
  // and suggesting the closest known key), a value of the wrong type (naming the key, the file /
  // variable / flag, and the expected type), an unreadable file. Secret values never appear in
  // errors. Never throws, except std::logic_error when the embedded configs/default.yaml itself is
  // broken (a build defect the tests catch).
  static Expected<Config, std::string> Load(const ConfigLoadOptions& options);

  // A snapshot of this process's environment (environ), for ConfigLoadOptions::env.
  static std::map<std::string, std::string> ProcessEnvironment();

  // Typed access. The key must be defined in configs/default.yaml and, for the typed getters, have
  // that type (GetDouble also reads integers); anything else is a programming error and throws
  // std::logic_error. GetString works for every key (its canonical text).
  std::string GetString(const std::string& key) const;
  int64_t GetInt(const std::string& key) const;
  double GetDouble(const std::string& key) const;
  bool GetBool(const std::string& key) const;
  // A list setting: the entries of every layer, lower layers first (defaults, user file, repo
  // file, environment, flags), each layer's in the order written.
  std::vector<std::string> GetStringList(const std::string& key) const;
  const ConfigValue& Get(const std::string& key) const;

  // `dsagent config show`: one line per key, sorted: "key = value  # source". Values of secret
  // keys (any key ending in api_key) print as "****" + their last 4 characters ("****" alone when
  // shorter than 8 characters, "(unset)" when empty); empty strings print as "".
  std::string Show() const;

  // The MCP servers of the user and repository files (mcp_servers_config.h), sorted by name; a
  // repository entry replaces the user entry of the same name. Disabled ones included.
  const std::vector<McpServerConfig>& McpServers() const { return mcp_servers_; }

  // Things the user should hear about that are not errors, e.g. an API key in the repository
  // config file (which may be committed). Never contains secret values.
  const std::vector<std::string>& Warnings() const { return warnings_; }

 private:
  Config() = default;

  std::map<std::string, ConfigValue> values_;
  std::vector<std::string> warnings_;
  std::vector<McpServerConfig> mcp_servers_;
};

}  // namespace dsagent
