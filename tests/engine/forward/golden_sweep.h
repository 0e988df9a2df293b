// The golden sweep's sets (tests/data/golden-sweep, docs/GOLDEN.md) for the tests that run them:
// the CPU engine's (golden_sweep_test.cc) and the device's (tests/engine/kernels/
// cuda_model_test.cc). Their checkpoints are not committed: each is written again from its
// config and seed by the synthetic checkpoint writer and checked against the SHA-256 the golden
// data was made from.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/file_io.h"
#include "common/sha256.h"
#include "engine/model/synthetic_checkpoint.h"
#include "tests/engine/forward/golden_data.h"

namespace dsagent::engine::forward::testing {

// The sets' directory names under data_dir/golden-sweep, sorted.
inline std::vector<std::string> SweepSetNames(const std::filesystem::path& data_dir = kDataDir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir / "golden-sweep", ec)) {
    if (entry.is_directory() && std::filesystem::exists(entry.path() / "manifest.json")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Writes `set`'s checkpoint into `dir`. Empty when it is the one the golden data was made from,
// else what went wrong (a change to the writer shows as a hash mismatch, not as an engine bug).
inline std::string WriteSweepCheckpoint(const GoldenSet& set, const std::filesystem::path& dir) {
  const Json& weights = set.manifest()["weights"];
  if (!weights.is_object()) return set.name() + ": manifest.json has no `weights` entry";
  const auto config_text = ReadFileToString(set.dir() / "config.json");
  if (!config_text) return config_text.error();
  const Json config = Json::parse(*config_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return (set.dir() / "config.json").string() + ": not JSON";
  SyntheticOptions options;
  options.seed = weights["seed"].get<uint64_t>();
  options.values = SyntheticValues::kVaried;
  auto written = WriteSyntheticCheckpoint(config, options, dir);
  if (!written) return written.error();
  const auto weight_bytes = ReadFileToString(dir / "model.safetensors");
  if (!weight_bytes) return weight_bytes.error();
  if (Sha256Hex(*weight_bytes) != weights["sha256"].get<std::string>()) {
    return set.name() +
           ": the synthetic checkpoint writer no longer writes the weights this golden set was "
           "made from; if that change is intended, regenerate the sweep "
           "(scripts/golden_sweep.py)";
  }
  return "";
}

}  // namespace dsagent::engine::forward::testing
