// Checkpoint: a V4 checkpoint directory — config.json plus one `model.safetensors` or shards listed
// in `model.safetensors.index.json` — memory-mapped, with every tensor checked against the
// inventory the config implies. Read-only and thread-safe after Open().
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/model/model_config.h"
#include "engine/model/safetensors.h"
#include "engine/model/tensor_inventory.h"

namespace dsagent::engine {

struct InventoryReport {
  std::vector<std::string> missing;     // expected, not in any file
  std::vector<std::string> unexpected;  // in a file, not expected
  std::vector<std::string> mismatched;  // present with another dtype/shape: "name: want X, got Y"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
};

class Checkpoint {
 public:
  // Opens `dir`. Error: a missing/invalid config.json, a missing or unreadable weights file, a
  // shard named by the index that is missing, or a tensor the index places in a file that lacks it
  // — each naming the file and tensor. Inventory differences are not errors here; see report().
  // `weights`: how the files are held (weight_residency.h); kAuto is resolved here for the files
  // together, and falls back to mapping when loading them fails.
  static Expected<std::unique_ptr<Checkpoint>, std::string> Open(
      const std::filesystem::path& dir, WeightResidency weights = WeightResidency::kAuto);

  const ModelConfig& config() const { return config_; }
  // How the weights are held: kMapped or kLoaded, never kAuto.
  WeightResidency residency() const { return residency_; }
  const InventoryReport& report() const { return report_; }
  // The tensor, or nullptr.
  const TensorInfo* Find(const std::string& name) const;
  // Every tensor across files, sorted by name.
  std::vector<const TensorInfo*> Tensors() const;
  // Loaded weights only: every file's pages outside `keep` given back to the file
  // (SafetensorsFile::ReturnPagesToFile); the bytes given back, 0 when mapped. An error names the
  // file; the files before it stay given back.
  Expected<int64_t, std::string> ReturnLoadedPages(const std::vector<AddressRange>& keep);

 private:
  Checkpoint() = default;
  ModelConfig config_;
  WeightResidency residency_ = WeightResidency::kMapped;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  InventoryReport report_;
};

// Compares what is present with what the config implies.
InventoryReport CheckInventory(const ModelConfig& config,
                               const std::vector<const TensorInfo*>& present);

}  // namespace dsagent::engine
