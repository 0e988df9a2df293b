#include "engine/generate/prefix_cache.h"

#include <algorithm>

namespace dsagent::engine {
namespace {
template <class T>
int64_t VecBytes(const std::vector<T>& v) {
  return static_cast<int64_t>(v.size() * sizeof(T));
}
int64_t LayerBytes(const forward::LayerState& l) {
  return VecBytes(l.window) + VecBytes(l.compressed) + VecBytes(l.index_keys) +
         VecBytes(l.kv_compressor.kv) + VecBytes(l.kv_compressor.score) +
         VecBytes(l.index_compressor.kv) + VecBytes(l.index_compressor.score);
}
}  // namespace

int64_t StateBytes(const forward::SequenceState& state) {
  int64_t n = 0;
  for (const auto& l : state.layers) n += LayerBytes(l);
  for (const auto& l : state.mtp) n += LayerBytes(l);
  return n;
}

std::optional<PrefixCache::Hit> InMemoryPrefixCache::LongestPrefix(std::span<const int32_t> tokens,
                                                                   int64_t max_tokens) {
  std::lock_guard lock(mu_);
  auto best = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const auto n = static_cast<int64_t>(it->tokens.size());
    if (n == 0 || n > max_tokens || n > static_cast<int64_t>(tokens.size())) continue;
    if (best != entries_.end() && n <= static_cast<int64_t>(best->tokens.size())) continue;
    if (std::equal(it->tokens.begin(), it->tokens.end(), tokens.begin())) best = it;
  }
  if (best == entries_.end()) return std::nullopt;
  entries_.splice(entries_.begin(), entries_, best);  // now most recently used
  return Hit{best->state, static_cast<int64_t>(best->tokens.size())};
}

void InMemoryPrefixCache::Store(std::span<const int32_t> tokens,
                                const forward::SequenceState& state) {
  if (tokens.empty() || state.pos != static_cast<int64_t>(tokens.size())) return;
  const int64_t size = StateBytes(state);
  if (size > options_.max_bytes || options_.max_entries <= 0) return;
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (std::equal(it->tokens.begin(), it->tokens.end(), tokens.begin(), tokens.end())) {
      entries_.splice(entries_.begin(), entries_, it);
      return;  // same key, same state (the forward pass is deterministic)
    }
  }
  entries_.push_front(Entry{{tokens.begin(), tokens.end()}, state, size});
  bytes_ += size;
  while (static_cast<int>(entries_.size()) > options_.max_entries || bytes_ > options_.max_bytes) {
    bytes_ -= entries_.back().bytes;
    entries_.pop_back();
  }
}

int InMemoryPrefixCache::entries() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(entries_.size());
}

int64_t InMemoryPrefixCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::optional<PrefixCache::Hit> TieredPrefixCache::LongestPrefix(std::span<const int32_t> tokens,
                                                                 int64_t max_tokens) {
  auto fast = fast_.LongestPrefix(tokens, max_tokens);
  const int64_t have = fast ? fast->tokens : 0;
  if (have < max_tokens) {
    auto slow = slow_.LongestPrefix(tokens, max_tokens);
    if (slow && slow->tokens > have) return slow;
  }
  return fast;
}

void TieredPrefixCache::Store(std::span<const int32_t> tokens,
                              const forward::SequenceState& state) {
  fast_.Store(tokens, state);
  slow_.Store(tokens, state);
}

}  // namespace dsagent::engine
