#include "agent/config/config_writer.h"

#include "agent/config/config_schema.h"
#include "agent/config/yaml_util.h"
#include "common/file_io.h"

namespace dsagent {
namespace {

std::vector<std::string> SplitKey(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string Join(const std::vector<std::string>& parts, size_t from) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (out.empty() ? "" : ".") + parts[i];
  return out;
}

// The node holding parts[from..] in `map`, where keys may be nested ("a: {b: ...}"), dotted
// ("a.b: ...") or a mix, as the config loader accepts; created (nested) when absent. yaml-cpp
// nodes are handles: the result refers into `map`.
YAML::Node FindOrCreate(YAML::Node map, const std::vector<std::string>& parts, size_t from) {
  const std::string rest = Join(parts, from);
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string k = it->first.Scalar();
    if (k == rest) return it->second;
    if (rest.compare(0, k.size() + 1, k + ".") == 0 && it->second.IsMap()) {
      size_t used = 1;
      for (char c : k) used += c == '.' ? 1 : 0;
      return FindOrCreate(it->second, parts, from + used);
    }
  }
  YAML::Node node = map;
  for (size_t i = from; i < parts.size(); ++i) {
    YAML::Node child = node[parts[i]];
    node.reset(child);
  }
  return node;
}

// YAML double-quoted scalar.
std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool MentionsSection(const YAML::Node& root, const std::string& section) {
  if (!root.IsMap()) return false;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string k = it->first.Scalar();
    if (k == section || k.rfind(section + ".", 0) == 0) return true;
  }
  return false;
}

}  // namespace

Expected<Ok, std::string> AppendToConfigList(const std::filesystem::path& path,
                                             const std::string& key, const std::string& entry) {
  const ConfigKeySpec* spec = ConfigSchema::BuiltIn().Find(key);
  if (spec == nullptr || spec->type != ConfigType::kStringList) {
    return MakeUnexpected("'" + key + "' is not a list setting");
  }
  auto text = ReadFileIfExists(path);
  if (!text) return MakeUnexpected(text.error());
  const std::string old_text = text->value_or("");
  auto root = ParseYaml(old_text, path.string());
  if (!root) return MakeUnexpected(root.error());
  if (!root->IsNull() && !root->IsMap()) {
    return MakeUnexpected(path.string() + ": not a mapping of settings");
  }
  const std::vector<std::string> parts = SplitKey(key);

  std::string new_text;
  if (!MentionsSection(*root, parts[0])) {
    // Plain append: the user's comments and layout stay as they are.
    new_text = old_text;
    if (!new_text.empty() && new_text.back() != '\n') new_text += '\n';
    for (size_t i = 0; i < parts.size(); ++i) {
      new_text += std::string(2 * i, ' ') + parts[i] + ":\n";
    }
    new_text += std::string(2 * parts.size(), ' ') + "- " + Quoted(entry) + "\n";
  } else {
    YAML::Node list = FindOrCreate(*root, parts, 0);
    // A node just created by FindOrCreate is not defined yet; push_back makes it a list.
    if (list.IsDefined() && !list.IsNull() && !list.IsSequence()) {
      return MakeUnexpected(path.string() + ": '" + key + "' is " + DescribeNodeType(list) +
                            ", not a list");
    }
    if (list.IsSequence()) {
      for (const YAML::Node& item : list) {
        if (item.IsScalar() && item.Scalar() == entry) return Ok{};
      }
    }
    list.push_back(entry);
    YAML::Emitter out;
    out << *root;
    if (!out.good())
      return MakeUnexpected(path.string() + ": cannot write YAML: " + out.GetLastError());
    new_text = std::string(out.c_str()) + "\n";
  }
  // What we write must read back as the list with the entry in it.
  auto check = ParseYaml(new_text, path.string());
  if (!check)
    return MakeUnexpected("internal error: the updated config does not parse: " + check.error());
  if (auto written = WriteFileAtomic(path, new_text); !written) {
    return MakeUnexpected(written.error());
  }
  return Ok{};
}

}  // namespace dsagent
