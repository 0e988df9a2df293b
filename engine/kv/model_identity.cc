#include "engine/kv/model_identity.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "common/file_io.h"
#include "common/sha256.h"

namespace dsagent::engine::kv {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kSampleBytes = 64 * 1024;

// Reads `n` bytes at `offset` (fewer at the end of the file). Error names the file.
Expected<std::string, std::string> ReadRange(const fs::path& path, uint64_t offset, uint64_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeUnexpected(path.string() + ": cannot open");
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(n, '\0');
  in.read(out.data(), static_cast<std::streamsize>(n));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

// name, size, header and three samples of one safetensors file, hashed.
Expected<std::string, std::string> SafetensorsDigest(const fs::path& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) return MakeUnexpected(path.string() + ": " + ec.message());
  auto len_bytes = ReadRange(path, 0, 8);
  if (!len_bytes) return MakeUnexpected(len_bytes.error());
  uint64_t header_len = 0;
  for (size_t i = 0; i < len_bytes->size(); ++i) {
    header_len |= static_cast<uint64_t>(static_cast<unsigned char>((*len_bytes)[i])) << (8 * i);
  }
  header_len = std::min(header_len, size);
  std::string material = path.filename().string() + "\n" + std::to_string(size) + "\n";
  const uint64_t data_start = std::min(size, 8 + header_len);
  const uint64_t data = size - data_start;
  for (uint64_t offset : {uint64_t{0}, data_start, data_start + data / 2,
                          data_start + (data > kSampleBytes ? data - kSampleBytes : 0)}) {
    auto part = ReadRange(path, offset, offset == 0 ? data_start : kSampleBytes);
    if (!part) return MakeUnexpected(part.error());
    material += Sha256Hex(*part);
  }
  return Sha256Hex(material);
}

}  // namespace

Expected<std::string, std::string> ComputeModelIdentity(const fs::path& dir) {
  auto config = ReadFileToString(dir / "config.json");
  if (!config) return MakeUnexpected(config.error());
  std::string material = "dsagent-model-identity-v1\nconfig.json " + Sha256Hex(*config) + "\n";
  for (const char* name : {"model.safetensors.index.json", "tokenizer.json",
                           "tokenizer_config.json", "chat_template.jinja"}) {
    if (!fs::exists(dir / name)) continue;
    auto bytes = ReadFileToString(dir / name);
    if (!bytes) return MakeUnexpected(bytes.error());
    material += std::string(name) + " " + Sha256Hex(*bytes) + "\n";
  }
  std::vector<fs::path> weights;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".safetensors") weights.push_back(e.path());
  }
  if (ec) return MakeUnexpected(dir.string() + ": " + ec.message());
  std::sort(weights.begin(), weights.end());
  for (const auto& w : weights) {
    auto d = SafetensorsDigest(w);
    if (!d) return MakeUnexpected(d.error());
    material += w.filename().string() + " " + *d + "\n";
  }
  return Sha256Hex(material);
}

std::string StateIdentity(std::string_view model_identity, kernels::Numerics numerics) {
  if (numerics == kernels::Numerics::kExact) return std::string(model_identity);
  // Revision 1 (the first fast contract) was keyed without a revision suffix.
  return Sha256Hex(std::string(model_identity) + "\nnumerics " +
                   std::string(kernels::NumericsName(numerics)) + " r" +
                   std::to_string(kernels::kFastContractRevision));
}

}  // namespace dsagent::engine::kv
