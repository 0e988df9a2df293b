#include "agent/config/yaml_util.h"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>

#include "common/file_io.h"

namespace dsagent {

namespace {

// Counts documents without building them. yaml-cpp 0.7's LoadAll never returns on some invalid
// texts (a stray ',' at document level, e.g. ", x": every round yields another document without
// consuming input, and memory grows until the process dies; found by tests/fuzz/fuzz_config), so
// the documents are counted here and the loop stops at the second one.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  std::vector<YAML::Mark> starts;
};

}  // namespace

Expected<YAML::Node, std::string> ParseYaml(std::string_view text, std::string_view source_name) {
  try {
    std::istringstream stream{std::string(text)};
    YAML::Parser parser(stream);
    DocumentCounter counter;
    // Three are enough to tell a real second document from the parser standing still.
    while (counter.starts.size() < 3 && parser.HandleNextDocument(counter)) {
      const auto& starts = counter.starts;
      if (starts.size() >= 2 && starts[starts.size() - 1].pos == starts[starts.size() - 2].pos) {
        const YAML::Mark& at = starts.back();  // no progress: the LoadAll loop above
        return MakeUnexpected(std::string(source_name) + ":" + std::to_string(at.line + 1) + ":" +
                              std::to_string(at.column + 1) +
                              ": malformed YAML: unexpected text at the top level");
      }
    }
    if (counter.starts.size() > 1) {
      const YAML::Mark& second = counter.starts[1];
      // Silently using only the first document would hide the rest of the settings.
      return MakeUnexpected(std::string(source_name) + ":" + std::to_string(second.line + 1) +
                            ": only one YAML document is allowed (found a second '---')");
    }
    if (counter.starts.empty()) return YAML::Node();
    return YAML::Load(std::string(text));
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
