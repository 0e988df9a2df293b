// yaml-cpp glue shared by the config loader and the model catalog: parsing without exceptions and
// locating nodes for error messages. Internal to agent/config (yaml-cpp stays out of public
// headers).
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace dsagent {

// Parses one YAML document. Error: "<source>:<line>:<column>: malformed YAML: <reason>" (1-based),
// or a second document in the text. An empty text parses to a Null node.
Expected<YAML::Node, std::string> ParseYaml(std::string_view text, std::string_view source_name);

// "<source>:<line>" for `node` (1-based line), or just "<source>" when yaml-cpp has no position.
std::string Where(std::string_view source_name, const YAML::Node& node);

// "a mapping", "a list", "no value" or "a value": how to name what the user wrote in an error.
std::string DescribeNodeType(const YAML::Node& node);

// True for a scalar written in quotes (or with an explicit tag): YAML says it is a string.
bool IsQuotedScalar(const YAML::Node& node);

// One non-mapping value of a mapping tree, under its dotted path.
struct YamlLeaf {
  std::string key;      // "providers.deepseek.base_url"
  YAML::Node key_node;  // for its position
  YAML::Node value;     // a scalar, a list or null; never a non-empty mapping
};

// Flattens nested mappings into dotted keys, in document order. A Null root (empty document) gives
// no leaves; an empty mapping value gives none either. Problems are appended to `errors` (each
// "<source>:<line>: ...") and flattening goes on: the root is not a mapping, a key is not a plain
// value, or the same dotted key appears twice (yaml-cpp itself accepts duplicates silently).
std::vector<YamlLeaf> FlattenYamlMapping(const YAML::Node& root, std::string_view source_name,
                                         std::vector<std::string>& errors);

// The file's content, or nullopt if it does not exist (optional config files may be absent).
// Error: it exists but is not a regular file or cannot be read (message names the path).
Expected<std::optional<std::string>, std::string> ReadFileIfExists(
    const std::filesystem::path& path);

// Joins error messages one per line (the loaders report every problem they find, not just the
// first).
std::string JoinLines(const std::vector<std::string>& lines);

}  // namespace dsagent
