#include "agent/config/yaml_util.h"

#include <map>

#include "common/file_io.h"

namespace dsagent {

Expected<YAML::Node, std::string> ParseYaml(std::string_view text, std::string_view source_name) {
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(text));
    if (documents.empty()) return YAML::Node();
    if (documents.size() > 1) {
      // Silently using only the first document would hide the rest of the settings.
      return MakeUnexpected(Where(source_name, documents[1]) +
                            ": only one YAML document is allowed (found a second '---')");
    }
    return documents[0];
  } catch (const YAML::Exception& e) {
    std::string where(source_name);
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return MakeUnexpected(where + ": malformed YAML: " + e.msg);
  }
}

std::string Where(std::string_view source_name, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return std::string(source_name);
  return std::string(source_name) + ":" + std::to_string(mark.line + 1);
}

std::string DescribeNodeType(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a value";
    default:
      return "no value";
  }
}

// yaml-cpp tags plain scalars "?" and quoted ones "!".
bool IsQuotedScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() != "?"; }

namespace {

void Flatten(const YAML::Node& map, const std::string& prefix, std::string_view source_name,
             std::vector<YamlLeaf>& leaves, std::vector<std::string>& errors) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      errors.push_back(Where(source_name, it->first) + ": a key must be a plain name, not " +
                       DescribeNodeType(it->first));
      continue;
    }
    const std::string key = prefix.empty() ? it->first.Scalar() : prefix + "." + it->first.Scalar();
    if (it->second.IsMap()) {
      Flatten(it->second, key, source_name, leaves, errors);
    } else {
      leaves.push_back({key, it->first, it->second});
    }
  }
}

}  // namespace

std::vector<YamlLeaf> FlattenYamlMapping(const YAML::Node& root, std::string_view source_name,
                                         std::vector<std::string>& errors) {
  std::vector<YamlLeaf> leaves;
  if (root.IsNull()) return leaves;
  if (!root.IsMap()) {
    errors.push_back(Where(source_name, root) + ": expected a mapping of keys, got " +
                     DescribeNodeType(root));
    return leaves;
  }
  Flatten(root, "", source_name, leaves, errors);
  std::map<std::string, const YamlLeaf*> first_seen;
  for (const YamlLeaf& leaf : leaves) {
    auto [it, inserted] = first_seen.emplace(leaf.key, &leaf);
    if (!inserted) {
      errors.push_back(Where(source_name, leaf.key_node) + ": '" + leaf.key +
                       "' is set twice (first at " + Where(source_name, it->second->key_node) +
                       ")");
    }
  }
  return leaves;
}

Expected<std::optional<std::string>, std::string> ReadFileIfExists(
    const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) return std::optional<std::string>();
  if (ec) return MakeUnexpected(path.string() + ": " + ec.message());
  if (!std::filesystem::is_regular_file(status)) {
    return MakeUnexpected(path.string() + ": not a regular file");
  }
  auto text = ReadFileToString(path);
  if (!text) return MakeUnexpected(text.error());
  return std::optional<std::string>(std::move(*text));
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string joined;
  for (const std::string& line : lines) {
    if (!joined.empty()) joined += '\n';
    joined += line;
  }
  return joined;
}

}  // namespace dsagent
