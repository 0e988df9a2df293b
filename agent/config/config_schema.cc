#include "agent/config/config_schema.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "agent/config/scalar.h"
#include "agent/config/yaml_util.h"
#include "common/json.h"
#include "configs/configs.h"

namespace dsagent {
namespace {

// Settings whose value must be one of a fixed set, so that a typo fails at load time instead of
// surfacing later as an odd provider error. YAML has no place for this, so it lives here.
const std::map<std::string, std::vector<std::string>>& EnumeratedKeys() {
  static const auto* const kEnums = new std::map<std::string, std::vector<std::string>>{
      {"provider", {"deepseek", "deepseek-anthropic", "openai-compatible", "local"}},
      {"effort", {"high", "max"}},
      {"permissions.mode", {"read-only", "ask", "auto-edit", "full-auto"}},
      {"permissions.headless_mode", {"read-only", "ask", "auto-edit", "full-auto"}},
      {"sandbox.backend", {"auto", "landlock", "bubblewrap"}},
      {"tools.env.inherit", {"all", "core", "none"}},
      {"providers.local.numerics", {"exact", "fast"}},
      {"providers.local.weights", {"auto", "mmap", "load"}},
      {"providers.local.speculative", {"off", "mtp"}},
      {"providers.local.speculative_accept", {"match", "standard"}},
  };
  return *kEnums;
}

ConfigType InferType(const YAML::Node& value) {
  if (IsQuotedScalar(value)) return ConfigType::kString;
  const std::string& text = value.Scalar();
  if (text == "true" || text == "false") return ConfigType::kBool;
  if (ParseInt64(text)) return ConfigType::kInt;
  if (ParseFiniteDouble(text)) return ConfigType::kDouble;
  return ConfigType::kString;
}

// The entries of a YAML list of plain values; nullopt when an entry is not a plain value.
std::optional<std::vector<std::string>> ListEntries(const YAML::Node& list) {
  std::vector<std::string> entries;
  for (const YAML::Node& item : list) {
    if (!item.IsScalar()) return std::nullopt;
    entries.push_back(item.Scalar());
  }
  return entries;
}

std::string JoinAllowed(const std::vector<std::string>& allowed) {
  std::string out;
  for (const std::string& value : allowed) out += (out.empty() ? "" : " | ") + value;
  return out;
}

}  // namespace

std::string DescribeConfigType(ConfigType type) {
  switch (type) {
    case ConfigType::kBool:
      return "a boolean (true/false/on/off/yes/no/1/0)";
    case ConfigType::kInt:
      return "an integer";
    case ConfigType::kDouble:
      return "a number";
    case ConfigType::kStringList:
      return "a list of strings";
    case ConfigType::kString:
      break;
  }
  return "a string";
}

std::string EnvVarName(std::string_view key) {
  std::string name = "DSAGENT_";
  for (char c : key) {
    if (c == '.') {
      name += "__";
    } else if (c == '-') {
      name += '_';
    } else if (c >= 'a' && c <= 'z') {
      name += static_cast<char>(c - 'a' + 'A');
    } else {
      name += c;
    }
  }
  return name;
}

bool IsSecretKey(std::string_view key) {
  constexpr std::string_view kSuffix = "api_key";
  return key.size() >= kSuffix.size() && key.substr(key.size() - kSuffix.size()) == kSuffix;
}

std::string QuoteForError(std::string_view key, std::string_view value) {
  if (IsSecretKey(key)) return "(hidden)";
  constexpr size_t kMaxBytes = 60;
  if (value.size() <= kMaxBytes) return "\"" + std::string(value) + "\"";
  size_t cut = kMaxBytes;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return "\"" + std::string(value.substr(0, cut)) + "...\"";
}

Expected<ConfigSchema, std::string> ConfigSchema::FromDefaults(std::string_view yaml_text,
                                                               std::string_view source_name) {
  auto root = ParseYaml(yaml_text, source_name);
  if (!root) return MakeUnexpected(root.error());
  ConfigSchema schema;
  std::vector<std::string> errors;
  std::map<std::string, std::string> key_by_env_name;
  for (const YamlLeaf& leaf : FlattenYamlMapping(*root, source_name, errors)) {
    std::optional<std::vector<std::string>> list;
    if (leaf.value.IsSequence()) list = ListEntries(leaf.value);
    if (!leaf.value.IsScalar() && !list) {
      errors.push_back(Where(source_name, leaf.key_node) + ": '" + leaf.key +
                       "' must have a scalar or list-of-strings default, not " +
                       DescribeNodeType(leaf.value));
      continue;
    }
    ConfigKeySpec spec{leaf.key,
                       list ? ConfigType::kStringList : InferType(leaf.value),
                       list ? CanonicalListValue(*list) : leaf.value.Scalar(),
                       {}};
    if (auto it = EnumeratedKeys().find(leaf.key); it != EnumeratedKeys().end()) {
      spec.allowed_values = it->second;
    }
    auto canonical = Check(spec, spec.default_value);
    if (!canonical) {
      errors.push_back(Where(source_name, leaf.key_node) + ": '" + leaf.key + "' " +
                       canonical.error());
      continue;
    }
    spec.default_value = *canonical;
    auto [env_it, fresh] = key_by_env_name.emplace(EnvVarName(leaf.key), leaf.key);
    if (!fresh) {
      errors.push_back(std::string(source_name) + ": '" + leaf.key + "' and '" + env_it->second +
                       "' share the variable " + env_it->first);
    }
    schema.keys_.push_back(leaf.key);
    schema.specs_.emplace(leaf.key, std::move(spec));
  }
  for (const auto& [key, allowed] : EnumeratedKeys()) {
    if (!schema.specs_.count(key)) {
      errors.push_back(std::string(source_name) + ": enumerated key '" + key + "' is missing");
    }
  }
  if (!errors.empty()) return MakeUnexpected(JoinLines(errors));
  std::sort(schema.keys_.begin(), schema.keys_.end());
  return schema;
}

const ConfigSchema& ConfigSchema::BuiltIn() {
  static const ConfigSchema* const kSchema = [] {
    const auto text = configs::Find("default.yaml");
    if (!text) throw std::logic_error("configs/default.yaml is not embedded");
    auto schema = FromDefaults(*text, "configs/default.yaml");
    if (!schema) throw std::logic_error("configs/default.yaml is invalid: " + schema.error());
    return new ConfigSchema(std::move(*schema));
  }();
  return *kSchema;
}

const ConfigKeySpec* ConfigSchema::Find(std::string_view key) const {
  auto it = specs_.find(key);
  return it == specs_.end() ? nullptr : &it->second;
}

bool ConfigSchema::IsSection(std::string_view key) const {
  const std::string prefix = std::string(key) + ".";
  auto it = specs_.lower_bound(prefix);
  return it != specs_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

Expected<std::string, std::string> ConfigSchema::Check(const ConfigKeySpec& spec,
                                                       std::string_view raw) {
  const std::string expected = "expects " + DescribeConfigType(spec.type);
  switch (spec.type) {
    case ConfigType::kBool: {
      const auto value = ParseBool(raw);
      if (!value) return MakeUnexpected(expected);
      return std::string(*value ? "true" : "false");
    }
    case ConfigType::kInt: {
      const auto value = ParseInt64(raw);
      if (!value) return MakeUnexpected(expected);
      return std::to_string(*value);
    }
    case ConfigType::kDouble:
      if (!ParseFiniteDouble(raw)) return MakeUnexpected(expected);
      return std::string(raw);
    case ConfigType::kStringList: {
      if (raw.empty() || raw.front() != '[') return CanonicalListValue({std::string(raw)});
      auto node = ParseYaml(raw, "value");
      if (!node || !node->IsSequence()) return MakeUnexpected(expected);
      auto entries = ListEntries(*node);
      if (!entries) return MakeUnexpected(expected);
      return CanonicalListValue(*entries);
    }
    case ConfigType::kString:
      break;
  }
  const auto& allowed = spec.allowed_values;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), raw) == allowed.end()) {
    return MakeUnexpected("expects one of " + JoinAllowed(allowed));
  }
  return std::string(raw);
}

std::string CanonicalListValue(const std::vector<std::string>& entries) {
  return CanonicalJson(Json(entries));
}

std::vector<std::string> ParseListValue(std::string_view canonical) {
  const Json j = Json::parse(canonical, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const Json& e : j) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace dsagent
