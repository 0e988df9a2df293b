// PrefixCache: where a server finds the state of an earlier sequence that shares a prefix with a
// new prompt, so only the new tail is prefilled (the hit is reported as prompt_cache_hit_tokens).
// A SequenceState cannot be rewound (window ring, compressor buffers), so a cache holds states at
// exact token counts and a lookup returns the longest stored key that is a prefix of the tokens.
//
// This is the seam for the persistent on-disk store (engine/kv, issue 4): it implements the same
// interface. InMemoryPrefixCache keeps recent states in memory. Implementations are thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "engine/forward/sequence_state.h"

namespace dsagent::engine {

class PrefixCache {
 public:
  virtual ~PrefixCache() = default;

  struct Hit {
    forward::SequenceState state;  // a copy the caller owns; state.pos == tokens
    int64_t tokens = 0;            // length of the matched prefix
  };
  // The state after the longest stored prefix of `tokens` no longer than `max_tokens` (callers
  // pass tokens.size() - 1 so that at least one token is left to compute logits from), or
  // nullopt. Never returns a state for tokens that differ from the stored key.
  virtual std::optional<Hit> LongestPrefix(std::span<const int32_t> tokens, int64_t max_tokens) = 0;
  // Offers the state after exactly `tokens` (state.pos == tokens.size()); the cache may keep a
  // copy, replace an older entry or ignore it.
  virtual void Store(std::span<const int32_t> tokens, const forward::SequenceState& state) = 0;
  // > 1 when states are kept only at multiples of this many tokens (the disk store: 128 for V4);
  // callers then also offer the state at the last such position of a prompt.
  virtual int64_t alignment_tokens() const { return 1; }
};

// Bytes held by a state's buffers (what a cached copy costs).
int64_t StateBytes(const forward::SequenceState& state);

// Recent states in memory, least recently used evicted first once either limit is passed.
class InMemoryPrefixCache : public PrefixCache {
 public:
  struct Options {
    int max_entries = 16;
    int64_t max_bytes = int64_t{1} << 30;
  };
  InMemoryPrefixCache() : InMemoryPrefixCache(Options{}) {}
  explicit InMemoryPrefixCache(const Options& options) : options_(options) {}

  std::optional<Hit> LongestPrefix(std::span<const int32_t> tokens, int64_t max_tokens) override;
  void Store(std::span<const int32_t> tokens, const forward::SequenceState& state) override;

  int entries() const;
  int64_t bytes() const;

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    forward::SequenceState state;
    int64_t bytes = 0;
  };
  Options options_;
  mutable std::mutex mu_;
  std::list<Entry> entries_;  // most recently used first
  int64_t bytes_ = 0;
};

// Two caches as one: a lookup takes the longer hit of `fast` (asked first, e.g. memory) and
// `slow` (e.g. the disk store); a store goes to both. Neither is owned.
class TieredPrefixCache : public PrefixCache {
 public:
  TieredPrefixCache(PrefixCache& fast, PrefixCache& slow) : fast_(fast), slow_(slow) {}
  std::optional<Hit> LongestPrefix(std::span<const int32_t> tokens, int64_t max_tokens) override;
  void Store(std::span<const int32_t> tokens, const forward::SequenceState& state) override;
  int64_t alignment_tokens() const override {
    return std::max(fast_.alignment_tokens(), slow_.alignment_tokens());
  }

 private:
  PrefixCache& fast_;
  PrefixCache& slow_;
};

}  // namespace dsagent::engine
