// Safetensors files, memory-mapped or loaded (weight_residency.h): the 8-byte header length, the
// JSON header, then raw tensor bytes. Weights stay in their stored formats; nothing is converted.
// Format: https://huggingface.co/docs/safetensors (little-endian, C order).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/model/dtype.h"
#include "engine/model/weight_residency.h"

namespace dsagent::engine {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping; valid while the SafetensorsFile lives
  size_t size_bytes = 0;
  std::filesystem::path file;  // which file holds it (sharded checkpoints)

  int64_t elements() const;
};

// One mapped file. Thread-safe for concurrent reads after Open().
class SafetensorsFile {
 public:
  // Maps `path` read-only and validates the header: JSON, known dtypes, shapes matching byte
  // ranges, ranges inside the file and not overlapping. Error: a message naming the file and,
  // where one is at fault, the tensor ("model.safetensors: tensor 'x': data range ... exceeds the
  // file size ... (truncated download?)").
  // `residency`: kMapped maps the file, kLoaded reads it into huge-page memory first (an error
  // names the file and the size when the memory cannot be had); kAuto counts as kMapped here
  // (Checkpoint::Open resolves it for all the files together).
  static Expected<std::unique_ptr<SafetensorsFile>, std::string> Open(
      const std::filesystem::path& path, WeightResidency residency = WeightResidency::kMapped);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* Find(const std::string& name) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
};

}  // namespace dsagent::engine
