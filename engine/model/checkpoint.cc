#include "engine/model/checkpoint.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/file_io.h"
#include "common/json.h"

namespace dsagent::engine {
namespace fs = std::filesystem;
namespace {

std::string Describe(DType dtype, const std::vector<int64_t>& shape) {
  std::string s = std::string(DTypeName(dtype)) + "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

InventoryReport CheckInventory(const ModelConfig& config,
                               const std::vector<const TensorInfo*>& present) {
  InventoryReport r;
  std::map<std::string, const TensorInfo*> by_name;
  for (const TensorInfo* t : present) by_name[t->name] = t;
  std::set<std::string> expected_names;
  for (const ExpectedTensor& e : ExpectedTensors(config)) {
    expected_names.insert(e.name);
    auto it = by_name.find(e.name);
    if (it == by_name.end()) {
      r.missing.push_back(e.name);
      continue;
    }
    const TensorInfo& t = *it->second;
    // The reference declares tid2eid int32 while checkpoints store int64: both load.
    const bool dtype_ok = t.dtype == e.dtype || (e.dtype == DType::kI64 && t.dtype == DType::kI32);
    if (!dtype_ok || t.shape != e.shape) {
      r.mismatched.push_back(e.name + ": want " + Describe(e.dtype, e.shape) + ", got " +
                             Describe(t.dtype, t.shape));
    }
  }
  for (const auto& [name, t] : by_name) {
    if (!expected_names.count(name)) r.unexpected.push_back(name);
  }
  return r;
}

Expected<std::unique_ptr<Checkpoint>, std::string> Checkpoint::Open(const fs::path& dir,
                                                                    WeightResidency weights) {
  std::unique_ptr<Checkpoint> ck(new Checkpoint());
  auto config = LoadModelConfig(dir / "config.json");
  if (!config) return MakeUnexpected(config.error());
  ck->config_ = std::move(*config);

  const fs::path index_path = dir / "model.safetensors.index.json";
  std::error_code ec;
  std::map<std::string, std::vector<std::string>> by_file;  // shard -> tensors the index puts there
  const bool sharded = fs::exists(index_path, ec);
  if (sharded) {
    auto text = ReadFileToString(index_path);
    if (!text) return MakeUnexpected(text.error());
    const Json index = Json::parse(*text, nullptr, false);
    if (index.is_discarded() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      return MakeUnexpected(index_path.string() + ": needs a weight_map object");
    }
    for (const auto& [tensor, file] : index["weight_map"].items()) {
      if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos) {
        return MakeUnexpected(index_path.string() + ": tensor '" + tensor +
                              "' maps to an invalid file name");
      }
      by_file[file.get<std::string>()].push_back(tensor);
    }
  } else {
    by_file["model.safetensors"];
  }
  // kAuto: load when all the files together fit in half the memory available now.
  uint64_t bytes = 0;
  for (const auto& [file, tensors] : by_file) {
    const auto size = fs::file_size(dir / file, ec);
    if (!ec) bytes += size;
  }
  const uint64_t available = AvailableMemoryBytes();
  if (weights == WeightResidency::kLoaded) {
    if (auto why = LoadRefusal(bytes, available)) return MakeUnexpected(dir.string() + ": " + *why);
  }
  ck->residency_ = ResolveWeightResidency(weights, bytes, available);
  for (const auto& [file, tensors] : by_file) {
    auto shard = SafetensorsFile::Open(dir / file, ck->residency_);
    if (!shard && weights == WeightResidency::kAuto && ck->residency_ == WeightResidency::kLoaded) {
      // Auto only: memory that was available a moment ago may not be; map everything instead.
      ck->files_.clear();
      return Open(dir, WeightResidency::kMapped);
    }
    if (!shard) return MakeUnexpected(shard.error());
    if (sharded) {
      for (const auto& t : tensors) {
        if (!(*shard)->Find(t)) {
          return MakeUnexpected((dir / file).string() + ": tensor '" + t +
                                "' is listed in the index but not in this shard");
        }
      }
    }
    ck->files_.push_back(std::move(*shard));
  }
  ck->report_ = CheckInventory(ck->config_, ck->Tensors());
  return ck;
}

Expected<int64_t, std::string> Checkpoint::ReturnLoadedPages(
    const std::vector<AddressRange>& keep) {
  int64_t bytes = 0;
  for (auto& f : files_) {
    auto done = f->ReturnPagesToFile(keep);
    if (!done) return MakeUnexpected(done.error());
    bytes += *done;
  }
  return bytes;
}

const TensorInfo* Checkpoint::Find(const std::string& name) const {
  for (const auto& f : files_) {
    if (const TensorInfo* t = f->Find(name)) return t;
  }
  return nullptr;
}

std::vector<const TensorInfo*> Checkpoint::Tensors() const {
  std::vector<const TensorInfo*> out;
  for (const auto& f : files_) {
    for (const auto& [name, t] : f->tensors()) out.push_back(&t);
  }
  std::sort(out.begin(), out.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->name < b->name; });
  return out;
}

}  // namespace dsagent::engine
