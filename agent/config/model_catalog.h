// The model catalog: context and output limits of each model id and its prices over time, from
// configs/models.yaml (embedded) optionally overridden by $XDG_CONFIG_HOME/dsagent/models.yaml.
// Cost = usage x the price in effect when the call was made, so replaying an old trace prices it
// as it was billed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace dsagent {

// Prices in US dollars per million tokens, from `effective_at` until the next entry.
struct Price {
  std::string effective;                  // as written in the file, e.g. "2026-04-26T12:15:00Z"
  std::chrono::sys_seconds effective_at;  // the same instant
  double input_cache_hit_per_mtok;
  double input_cache_miss_per_mtok;
  double output_per_mtok;
};

struct ModelInfo {
  std::string id;  // e.g. "deepseek-v4-flash"
  int64_t context_tokens;
  int64_t max_output_tokens;
  std::vector<Price> prices;  // sorted by effective_at, no two at the same instant, never empty
  std::string alias_of;       // the model this id is another name for; "" if none
  std::optional<std::chrono::sys_seconds> retired_at;  // the id stops working after this
};

// An immutable catalog; safe to read from several threads.
class ModelCatalog {
 public:
  // Parses a models.yaml text. `source_name` (a path) prefixes every error. Error (all problems
  // found, one per line, "<source>:<line>: models.<id>.<field>: ..."): malformed YAML, a missing
  // or unknown field (with the closest known field suggested), a value of the wrong type, a
  // negative price, an invalid timestamp, two prices effective at the same instant, an alias_of
  // naming a model not in this text.
  static Expected<ModelCatalog, std::string> Parse(std::string_view yaml_text,
                                                   std::string_view source_name);

  // The embedded configs/models.yaml. Throws std::logic_error if it does not parse: a build
  // defect, caught by the tests.
  static const ModelCatalog& BuiltIn();

  // BuiltIn() with the models of `user_file` (default: XdgConfigHome()/dsagent/models.yaml) laid
  // over it: an entry there replaces the built-in one of the same id or adds a new id. A missing
  // file is fine (result: BuiltIn()). Error: as Parse, naming the user file, or an alias_of that
  // names no model in the merged catalog.
  static Expected<ModelCatalog, std::string> Load(
      const std::optional<std::filesystem::path>& user_file = std::nullopt);

  // nullptr if unknown. The pointer lives as long as the catalog.
  const ModelInfo* Find(std::string_view model_id) const;

  // The price in effect at `when`: the latest entry with effective_at <= when. nullopt for an
  // unknown model or a time before its first entry. Retirement does not end the last price, so
  // old traces can still be priced.
  std::optional<Price> PriceAt(std::string_view model_id,
                               std::chrono::system_clock::time_point when) const;

  // Every model id, sorted.
  std::vector<std::string> Ids() const;

 private:
  std::map<std::string, ModelInfo, std::less<>> models_;
};

}  // namespace dsagent
