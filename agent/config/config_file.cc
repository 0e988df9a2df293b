#include "agent/config/config_file.h"

#include "agent/config/closest_key.h"
#include "agent/config/yaml_util.h"

namespace dsagent {
namespace {

// The list setting `key` is an entry of when a list was written as a mapping
// (`tools.env.set: {CI: 1}` flattens to the leaf `tools.env.set.CI`), or "".
std::string ListKeyOf(const std::string& key) {
  const size_t dot = key.rfind('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

// A list setting written as a mapping gives "NAME=VALUE" entries (for `tools.env.set`); "" when
// `leaf` is not such an entry.
std::string MappingEntry(const YamlLeaf& leaf, const ConfigSchema& schema) {
  const std::string list_key = ListKeyOf(leaf.key);
  const ConfigKeySpec* list = schema.Find(list_key);
  if (list == nullptr || list->type != ConfigType::kStringList || !leaf.value.IsScalar()) return "";
  return leaf.key.substr(list_key.size() + 1) + "=" + leaf.value.Scalar();
}

// Checks one leaf: Ok when it is fine (then appended to `settings`) or to be skipped; else the
// error message, without the location.
Expected<Ok, std::string> CheckLeaf(const YamlLeaf& leaf, const std::string& where,
                                    const ConfigSchema& schema,
                                    std::vector<ConfigFileSetting>& settings) {
  const ConfigKeySpec* spec = schema.Find(leaf.key);
  if (spec == nullptr) {
    if (std::string entry = MappingEntry(leaf, schema); !entry.empty()) {
      settings.push_back({ListKeyOf(leaf.key), CanonicalListValue({entry}), where});
      return Ok{};
    }
    if (schema.IsSection(leaf.key)) {
      // "tools:" with every line under it commented out is an empty group, not a mistake.
      if (leaf.value.IsNull()) return Ok{};
      return MakeUnexpected("'" + leaf.key +
                            "' is a group of settings, not a value; set the keys under it");
    }
    return MakeUnexpected("unknown key '" + leaf.key + "'" + DidYouMean(leaf.key, schema.Keys()));
  }
  if (spec->type == ConfigType::kStringList) {
    // `rules:` with nothing after it is an empty list; a single value is not a list.
    std::vector<std::string> entries;
    if (!leaf.value.IsNull()) {
      if (!leaf.value.IsSequence()) {
        return MakeUnexpected("'" + leaf.key + "' expects a list of strings, not " +
                              DescribeNodeType(leaf.value));
      }
      for (const YAML::Node& item : leaf.value) {
        if (!item.IsScalar()) {
          return MakeUnexpected("'" + leaf.key + "' expects a list of strings; an entry is " +
                                DescribeNodeType(item));
        }
        entries.push_back(item.Scalar());
      }
    }
    settings.push_back({leaf.key, CanonicalListValue(entries), where});
    return Ok{};
  }
  if (leaf.value.IsNull()) {
    return MakeUnexpected(
        "'" + leaf.key + "' has no value" +
        (spec->type == ConfigType::kString ? " (write \"\" for an empty string)" : ""));
  }
  if (!leaf.value.IsScalar()) {
    return MakeUnexpected("'" + leaf.key + "' expects " + DescribeConfigType(spec->type) +
                          ", not " + DescribeNodeType(leaf.value));
  }
  auto canonical = ConfigSchema::Check(*spec, leaf.value.Scalar());
  if (!canonical) {
    return MakeUnexpected("'" + leaf.key + "' " + canonical.error() + ", got " +
                          QuoteForError(leaf.key, leaf.value.Scalar()));
  }
  settings.push_back({leaf.key, std::move(*canonical), where});
  return Ok{};
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
    // The MCP servers are a mapping of names the user picks, read by ReadMcpServersFromFile.
    if (leaf.key == "mcp_servers" || leaf.key.rfind("mcp_servers.", 0) == 0) continue;
    const std::string where = Where(source, leaf.key_node);
    if (auto checked = CheckLeaf(leaf, where, schema, settings); !checked) {
      errors.push_back(where + ": " + checked.error());
    }
  }
  if (!errors.empty()) return MakeUnexpected(JoinLines(errors));
  return settings;
}

}  // namespace dsagent
