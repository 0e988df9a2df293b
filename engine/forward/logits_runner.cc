#include "engine/forward/logits_runner.h"

#include <bit>
#include <cstring>

#include "common/file_io.h"

namespace dsagent::engine::forward {

static_assert(std::endian::native == std::endian::little, "the file formats are little-endian");

Expected<std::vector<int32_t>, std::string> ReadTokenFile(const std::filesystem::path& path) {
  auto bytes = ReadFileToString(path);
  if (!bytes) return MakeUnexpected(bytes.error());
  if (bytes->empty() || bytes->size() % 4 != 0) {
    return MakeUnexpected(path.string() + ": " + std::to_string(bytes->size()) +
                          " bytes is not a non-empty array of int32 token ids");
  }
  std::vector<int32_t> ids(bytes->size() / 4);
  std::memcpy(ids.data(), bytes->data(), bytes->size());
  return ids;
}

Expected<Ok, std::string> WriteFloatFile(const std::filesystem::path& path,
                                         std::span<const float> values) {
  return WriteFileAtomic(path, std::string_view(reinterpret_cast<const char*>(values.data()),
                                                values.size() * sizeof(float)));
}

Expected<std::vector<float>, std::string> ComputeLogits(Model& model,
                                                        std::span<const int32_t> tokens,
                                                        int64_t prefill) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (prefill > n) {
    return MakeUnexpected("--prefill " + std::to_string(prefill) + " exceeds the " +
                          std::to_string(n) + " tokens given");
  }
  if (auto ok = CheckTokenIds(model.config(), tokens); !ok) return MakeUnexpected(ok.error());
  if (prefill < 0) prefill = n;
  SequenceState state = model.NewSequence();
  std::vector<float> logits;
  logits.reserve(static_cast<size_t>(n * model.config().vocab_size));
  auto run = [&](std::span<const int32_t> part) -> std::string {
    auto l = model.Forward(state, part);
    if (!l) return l.error();
    logits.insert(logits.end(), l->begin(), l->end());
    return "";
  };
  if (prefill > 0) {
    if (std::string e = run(tokens.first(static_cast<size_t>(prefill))); !e.empty()) {
      return MakeUnexpected(e);
    }
  }
  for (int64_t t = prefill; t < n; ++t) {
    if (std::string e = run(tokens.subspan(static_cast<size_t>(t), 1)); !e.empty()) {
      return MakeUnexpected(e);
    }
  }
  return logits;
}

}  // namespace dsagent::engine::forward
