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
#include "engine/model/loaded_pages.h"
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

  // A loaded file only (loaded_pages.h): its copy's pages outside `keep` (host addresses, e.g.
  // the host experts a GPU run still computes on the CPU) become a read-only mapping of the
  // same bytes of the file, as under kMapped; the addresses, and what they read, stay the same.
  // Returns the bytes given back: 0 for a mapped file, and for one that changed on disk since it
  // was read (size or modification time: its copy is then all there is of those bytes). An error
  // names the file. Not to be called while anything reads the tensors.
  Expected<int64_t, std::string> ReturnPagesToFile(const std::vector<AddressRange>& keep);

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  // Loaded files: the file, still open (the same file even if the path is replaced), and its
  // size and modification time when it was read.
  int fd_ = -1;
  int64_t loaded_mtime_ns_ = 0;
  std::map<std::string, TensorInfo> tensors_;
};

}  // namespace dsagent::engine
