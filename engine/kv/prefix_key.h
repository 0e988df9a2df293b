// Content addresses of token prefixes: a chained SHA-256 over aligned blocks of token ids,
// seeded with the model identity, so that a key names one model's state after exactly those
// tokens. key[k] covers tokens [0, (k+1) * block_tokens):
//   seed   = SHA-256("dsagent-kv-prefix-v1\n" + model_id + "\n" + block_tokens)
//   key[k] = SHA-256(key[k-1] (or seed) + the block's ids as little-endian int32)
// Lowercase hex. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent::engine::kv {

// One key per complete block of `tokens` (a trailing partial block has none).
std::vector<std::string> PrefixKeys(std::string_view model_id, std::span<const int32_t> tokens,
                                    int64_t block_tokens);

}  // namespace dsagent::engine::kv
