#include "agent/config/model_catalog.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "agent/config/closest_key.h"
#include "agent/config/scalar.h"
#include "agent/config/yaml_util.h"
#include "common/xdg.h"
#include "configs/configs.h"

namespace dsagent {
namespace {

using Models = std::map<std::string, ModelInfo, std::less<>>;

// Reads one models.yaml, reporting every problem with its file, line and dotted path.
class CatalogParser {
 public:
  explicit CatalogParser(std::string_view source_name) : source_(source_name) {}

  Models Parse(const YAML::Node& root) {
    Models models;
    const auto fields = Fields(root, "", {"models"});
    auto it = fields.find("models");
    if (it == fields.end() || it->second.IsNull()) return models;
    if (!it->second.IsMap()) {
      Error(it->second, "models",
            "expects a mapping of model ids, not " + DescribeNodeType(it->second));
      return models;
    }
    std::set<std::string> seen;
    for (auto entry = it->second.begin(); entry != it->second.end(); ++entry) {
      const std::string id = entry->first.IsScalar() ? entry->first.Scalar() : "";
      const std::string path = "models." + id;
      if (id.empty()) {
        Error(entry->first, "models", "a model id must be a non-empty name");
      } else if (!seen.insert(id).second) {
        Error(entry->first, path, "is defined twice");
      } else if (auto model = ParseModel(id, entry->first, entry->second, path)) {
        models.emplace(id, std::move(*model));
      }
    }
    return models;
  }

  bool ok() const { return errors_.empty(); }
  std::string errors() const { return JoinLines(errors_); }

 private:
  void Error(const YAML::Node& node, const std::string& path, const std::string& message) {
    errors_.push_back(Where(source_, node) + ": " + path + ": " + message);
  }

  // The fields of mapping `node`, checked against `known` (unknown ones and duplicates are
  // reported). Empty if `node` is not a mapping (also reported, unless it is an empty document).
  std::map<std::string, YAML::Node> Fields(const YAML::Node& node, const std::string& path,
                                           const std::vector<std::string>& known) {
    std::map<std::string, YAML::Node> fields;
    if (node.IsNull() && path.empty()) return fields;
    if (!node.IsMap()) {
      Error(node, path.empty() ? "(top level)" : path,
            "expects a mapping, not " + DescribeNodeType(node));
      return fields;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        Error(it->first, path.empty() ? "(top level)" : path,
              "a field name must be a plain name, not " + DescribeNodeType(it->first));
        continue;
      }
      const std::string name = it->first.Scalar();
      const std::string field_path = path.empty() ? name : path + "." + name;
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        Error(it->first, field_path, "unknown field" + DidYouMean(name, known));
      } else if (!fields.emplace(name, it->second).second) {
        Error(it->first, field_path, "is set twice");
      }
    }
    return fields;
  }

  // The field's node, or nullopt (reported at `location`) when it is absent.
  std::optional<YAML::Node> Required(const std::map<std::string, YAML::Node>& fields,
                                     const YAML::Node& location, const std::string& path,
                                     const std::string& name) {
    auto it = fields.find(name);
    if (it == fields.end() || it->second.IsNull()) {
      Error(location, path, "missing field '" + name + "'");
      return std::nullopt;
    }
    return it->second;
  }

  std::optional<std::string> ScalarText(const YAML::Node& node, const std::string& path,
                                        const std::string& expected) {
    if (node.IsScalar()) return node.Scalar();
    Error(node, path, "expects " + expected + ", not " + DescribeNodeType(node));
    return std::nullopt;
  }

  std::optional<int64_t> PositiveInt(const YAML::Node& node, const std::string& path) {
    const auto text = ScalarText(node, path, "a positive integer");
    if (!text) return std::nullopt;
    const auto value = ParseInt64(*text);
    if (!value || *value <= 0) {
      Error(node, path, "expects a positive integer, got \"" + *text + "\"");
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> PricePerMtok(const YAML::Node& node, const std::string& path) {
    const auto text = ScalarText(node, path, "a price in USD per 1M tokens");
    if (!text) return std::nullopt;
    const auto value = ParseFiniteDouble(*text);
    if (!value || *value < 0) {
      Error(node, path, "expects a non-negative price in USD per 1M tokens, got \"" + *text + "\"");
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::chrono::sys_seconds> Timestamp(const YAML::Node& node,
                                                    const std::string& path) {
    const auto text = ScalarText(node, path, "an ISO 8601 UTC timestamp");
    if (!text) return std::nullopt;
    const auto value = ParseUtcTimestamp(*text);
    if (!value) {
      Error(node, path,
            "expects an ISO 8601 UTC timestamp such as \"2026-04-26T12:15:00Z\", got \"" + *text +
                "\"");
    }
    return value;
  }

  std::optional<Price> ParsePrice(const YAML::Node& node, const std::string& path) {
    const auto fields =
        Fields(node, path, {"effective", "input_cache_hit", "input_cache_miss", "output"});
    if (!node.IsMap()) return std::nullopt;
    // Every field is checked (not just up to the first problem) so one run reports them all.
    std::optional<std::chrono::sys_seconds> at;
    if (auto n = Required(fields, node, path, "effective")) at = Timestamp(*n, path + ".effective");
    std::optional<double> per_mtok[3];
    const char* const kPriceFields[3] = {"input_cache_hit", "input_cache_miss", "output"};
    for (int i = 0; i < 3; ++i) {
      if (auto n = Required(fields, node, path, kPriceFields[i])) {
        per_mtok[i] = PricePerMtok(*n, path + "." + kPriceFields[i]);
      }
    }
    if (!at || !per_mtok[0] || !per_mtok[1] || !per_mtok[2]) return std::nullopt;
    return Price{fields.at("effective").Scalar(), *at, *per_mtok[0], *per_mtok[1], *per_mtok[2]};
  }

  std::vector<Price> ParsePrices(const YAML::Node& node, const std::string& path) {
    std::vector<Price> prices;
    if (!node.IsSequence() || node.size() == 0) {
      Error(node, path, "expects a non-empty list of prices");
      return prices;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      if (auto price = ParsePrice(node[i], path + "[" + std::to_string(i) + "]")) {
        prices.push_back(std::move(*price));
      }
    }
    std::sort(prices.begin(), prices.end(),
              [](const Price& a, const Price& b) { return a.effective_at < b.effective_at; });
    for (size_t i = 1; i < prices.size(); ++i) {
      if (prices[i].effective_at == prices[i - 1].effective_at) {
        Error(node, path,
              "two prices take effect at the same instant (" + prices[i].effective + ")");
      }
    }
    return prices;
  }

  // `id_node` locates errors about the model as a whole (e.g. a missing field).
  std::optional<ModelInfo> ParseModel(const std::string& id, const YAML::Node& id_node,
                                      const YAML::Node& node, const std::string& path) {
    const auto fields = Fields(
        node, path, {"context_tokens", "max_output_tokens", "prices", "alias_of", "retired"});
    if (!node.IsMap()) return std::nullopt;
    const size_t errors_before = errors_.size();
    ModelInfo model{id, 0, 0, {}, "", std::nullopt};
    if (auto n = Required(fields, id_node, path, "context_tokens")) {
      model.context_tokens = PositiveInt(*n, path + ".context_tokens").value_or(0);
    }
    if (auto n = Required(fields, id_node, path, "max_output_tokens")) {
      model.max_output_tokens = PositiveInt(*n, path + ".max_output_tokens").value_or(0);
    }
    if (model.context_tokens > 0 && model.max_output_tokens > model.context_tokens) {
      Error(fields.at("max_output_tokens"), path + ".max_output_tokens",
            "is larger than context_tokens");
    }
    if (auto n = Required(fields, id_node, path, "prices")) {
      model.prices = ParsePrices(*n, path + ".prices");
    }
    if (auto it = fields.find("alias_of"); it != fields.end()) {
      const auto target = ScalarText(it->second, path + ".alias_of", "a model id");
      if (target && *target == id) Error(it->second, path + ".alias_of", "names the model itself");
      model.alias_of = target.value_or("");
    }
    if (auto it = fields.find("retired"); it != fields.end()) {
      model.retired_at = Timestamp(it->second, path + ".retired");
    }
    if (errors_.size() != errors_before) return std::nullopt;
    return model;
  }

  std::string source_;
  std::vector<std::string> errors_;
};

Expected<Models, std::string> ParseModels(std::string_view yaml_text,
                                          std::string_view source_name) {
  auto root = ParseYaml(yaml_text, source_name);
  if (!root) return MakeUnexpected(root.error());
  CatalogParser parser(source_name);
  Models models = parser.Parse(*root);
  if (!parser.ok()) return MakeUnexpected(parser.errors());
  return models;
}

// alias_of may point at a model defined in another file (a user alias of a built-in model), so it
// is checked on the whole catalog.
Expected<Ok, std::string> CheckAliases(const Models& models, std::string_view source_name) {
  std::vector<std::string> errors;
  for (const auto& [id, model] : models) {
    if (!model.alias_of.empty() && !models.count(model.alias_of)) {
      errors.push_back(std::string(source_name) + ": models." + id + ".alias_of: '" +
                       model.alias_of + "' is not a model in the catalog");
    }
  }
  if (!errors.empty()) return MakeUnexpected(JoinLines(errors));
  return Ok{};
}

}  // namespace

Expected<ModelCatalog, std::string> ModelCatalog::Parse(std::string_view yaml_text,
                                                        std::string_view source_name) {
  auto models = ParseModels(yaml_text, source_name);
  if (!models) return MakeUnexpected(models.error());
  if (auto aliases = CheckAliases(*models, source_name); !aliases) {
    return MakeUnexpected(aliases.error());
  }
  ModelCatalog catalog;
  catalog.models_ = std::move(*models);
  return catalog;
}

const ModelCatalog& ModelCatalog::BuiltIn() {
  static const ModelCatalog* const kCatalog = [] {
    const auto text = configs::Find("models.yaml");
    if (!text) throw std::logic_error("configs/models.yaml is not embedded");
    auto catalog = Parse(*text, "configs/models.yaml");
    if (!catalog) throw std::logic_error("configs/models.yaml is invalid: " + catalog.error());
    return new ModelCatalog(std::move(*catalog));
  }();
  return *kCatalog;
}

Expected<ModelCatalog, std::string> ModelCatalog::Load(
    const std::optional<std::filesystem::path>& user_file) {
  const std::filesystem::path path =
      user_file.value_or(XdgConfigHome() / "dsagent" / "models.yaml");
  auto text = ReadFileIfExists(path);
  if (!text) return MakeUnexpected(text.error());
  ModelCatalog catalog = BuiltIn();
  if (!text->has_value()) return catalog;
  auto overrides = ParseModels(**text, path.string());
  if (!overrides) return MakeUnexpected(overrides.error());
  for (auto& [id, model] : *overrides) catalog.models_.insert_or_assign(id, std::move(model));
  if (auto aliases = CheckAliases(catalog.models_, path.string()); !aliases) {
    return MakeUnexpected(aliases.error());
  }
  return catalog;
}

const ModelInfo* ModelCatalog::Find(std::string_view model_id) const {
  auto it = models_.find(model_id);
  return it == models_.end() ? nullptr : &it->second;
}

std::optional<Price> ModelCatalog::PriceAt(std::string_view model_id,
                                           std::chrono::system_clock::time_point when) const {
  const ModelInfo* model = Find(model_id);
  if (model == nullptr) return std::nullopt;
  // The first entry taking effect after `when`; the one before it is in effect.
  auto after = std::upper_bound(
      model->prices.begin(), model->prices.end(), when,
      [](std::chrono::system_clock::time_point t, const Price& p) { return t < p.effective_at; });
  if (after == model->prices.begin()) return std::nullopt;
  return *std::prev(after);
}

std::vector<std::string> ModelCatalog::Ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, model] : models_) ids.push_back(id);
  return ids;
}

}  // namespace dsagent
