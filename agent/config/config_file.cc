#include "agent/config/config_file.h"

#include "agent/config/closest_key.h"
#include "agent/config/yaml_util.h"

namespace dsagent {
namespace {

// Checks one leaf; returns an error message (without the location) or "" if it is fine or to be
// skipped. On success appends to `settings`.
std::string CheckLeaf(const YamlLeaf& leaf, const std::string& where, const ConfigSchema& schema,
                      std::vector<ConfigFileSetting>& settings) {
  const ConfigKeySpec* spec = schema.Find(leaf.key);
  if (spec == nullptr) {
    if (schema.IsSection(leaf.key)) {
      // "tools:" with every line under it commented out is an empty group, not a mistake.
      if (leaf.value.IsNull()) return "";
      return "'" + leaf.key + "' is a group of settings, not a value; set the keys under it";
    }
    return "unknown key '" + leaf.key + "'" + DidYouMean(leaf.key, schema.Keys());
  }
  if (spec->type == ConfigType::kStringList) {
    // `rules:` with nothing after it is an empty list; a single value is not a list.
    std::vector<std::string> entries;
    if (!leaf.value.IsNull()) {
      if (!leaf.value.IsSequence()) {
        return "'" + leaf.key + "' expects a list of strings, not " + DescribeNodeType(leaf.value);
      }
      for (const YAML::Node& item : leaf.value) {
        if (!item.IsScalar()) {
          return "'" + leaf.key + "' expects a list of strings; an entry is " +
                 DescribeNodeType(item);
        }
        entries.push_back(item.Scalar());
      }
    }
    settings.push_back({leaf.key, CanonicalListValue(entries), where});
    return "";
  }
  if (leaf.value.IsNull()) {
    return "'" + leaf.key + "' has no value" +
           (spec->type == ConfigType::kString ? " (write \"\" for an empty string)" : "");
  }
  if (!leaf.value.IsScalar()) {
    return "'" + leaf.key + "' expects " + DescribeConfigType(spec->type) + ", not " +
           DescribeNodeType(leaf.value);
  }
  auto canonical = ConfigSchema::Check(*spec, leaf.value.Scalar());
  if (!canonical) {
    return "'" + leaf.key + "' " + canonical.error() + ", got " +
           QuoteForError(leaf.key, leaf.value.Scalar());
  }
  settings.push_back({leaf.key, std::move(*canonical), where});
  return "";
}

}  // namespace

Expected<std::vector<ConfigFileSetting>, std::string> ReadConfigFile(
    const std::filesystem::path& path, const ConfigSchema& schema) {
  std::vector<ConfigFileSetting> settings;
  auto text = ReadFileIfExists(path);
  if (!text) return MakeUnexpected(text.error());
  if (!text->has_value()) return settings;
  const std::string source = path.string();
  auto root = ParseYaml(**text, source);
  if (!root) return MakeUnexpected(root.error());
  std::vector<std::string> errors;
  for (const YamlLeaf& leaf : FlattenYamlMapping(*root, source, errors)) {
    const std::string where = Where(source, leaf.key_node);
    if (std::string error = CheckLeaf(leaf, where, schema, settings); !error.empty()) {
      errors.push_back(where + ": " + error);
    }
  }
  if (!errors.empty()) return MakeUnexpected(JoinLines(errors));
  return settings;
}

}  // namespace dsagent
