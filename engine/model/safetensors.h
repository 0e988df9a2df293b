// Safetensors files, memory-mapped: the 8-byte header length, the JSON header, then raw tensor
// bytes. Weights stay in their stored formats; nothing is copied or converted here.
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
  static Expected<std::unique_ptr<SafetensorsFile>, std::string> Open(
      const std::filesystem::path& path);
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
