// The test server's model of DeepSeek's V4 context cache: persisted prefix units per cache
// partition, exact unit matches only. See deepseek_test_server.h for the approximation it makes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dsagent::testing {

// A prompt as the cache sees it: a list of items (the canonical JSON of tools/system, then of each
// message). Two prompts share a prefix unit only when whole items are equal.
using PromptItems = std::vector<std::string>;

// ceil(bytes / 4): the server's token estimate.
int64_t EstimateTokens(size_t bytes);

// Token estimate of the first `count` items.
int64_t PrefixTokens(const PromptItems& items, size_t count);

// Not thread-safe; the server guards it with its own mutex.
class PrefixCacheModel {
 public:
  // Tokens of the longest persisted unit in `partition` that is a prefix of `items` (0 if none).
  int64_t HitTokens(const std::string& partition, const PromptItems& items) const;
  // Persists `items` as a unit of `partition` (a no-op if it is already there).
  void Persist(const std::string& partition, const PromptItems& items);

 private:
  std::map<std::string, std::vector<PromptItems>> units_;
};

}  // namespace dsagent::testing
