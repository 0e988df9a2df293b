#include "engine/kv/prefix_key.h"

#include <bit>

#include "common/sha256.h"

namespace dsagent::engine::kv {

static_assert(std::endian::native == std::endian::little, "token ids are hashed little-endian");

std::vector<std::string> PrefixKeys(std::string_view model_id, std::span<const int32_t> tokens,
                                    int64_t block_tokens) {
  std::vector<std::string> keys;
  std::string prev = Sha256Hex("dsagent-kv-prefix-v1\n" + std::string(model_id) + "\n" +
                               std::to_string(block_tokens));
  const auto n = static_cast<int64_t>(tokens.size()) / block_tokens;
  for (int64_t k = 0; k < n; ++k) {
    std::string material = prev;
    material.append(reinterpret_cast<const char*>(tokens.data() + k * block_tokens),
                    static_cast<size_t>(block_tokens) * sizeof(int32_t));
    prev = Sha256Hex(material);
    keys.push_back(prev);
  }
  return keys;
}

}  // namespace dsagent::engine::kv
