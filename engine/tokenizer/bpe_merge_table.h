// BpeMergeTable: a BPE merge list as token ids — (left, right) -> (rank, merged) — and the merge
// of one pre-token in O(n log n): a doubly linked list of symbols and a min-heap of candidate pairs
// ordered by (rank, position), stale entries skipped when popped. The result equals the textbook
// loop "merge the lowest-ranked adjacent pair, the leftmost among equals, until none applies",
// which is what Hugging Face tokenizers and transformers.js compute, but in bounded work on any
// input (the textbook loop is quadratic: a 40K-character run of one letter took 30 s).
//
// Thread-safety: Add() before sharing; Merge() is const and may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/cancel.h"

namespace dsagent::engine {

class BpeMergeTable {
 public:
  // Records that `left` followed by `right` merges into `merged` with priority `rank` (lower
  // merges first). A pair already present keeps its first (lowest) rank, as in tokenizer.json
  // where the earlier line wins.
  void Add(int32_t left, int32_t right, int32_t merged, int32_t rank);

  // Merges `symbols` in place until no adjacent pair is in the table. Symbols may be -1 (an
  // unknown character): such a symbol never merges and is kept. When `cancel` (may be null)
  // fires, stops within kCancelCheckMerges merges, leaving a partly merged result.
  void Merge(std::vector<int32_t>* symbols, const CancelToken* cancel = nullptr) const;
  static constexpr uint32_t kCancelCheckMerges = 1 << 16;

  size_t size() const { return pairs_.size(); }

 private:
  struct Rule {
    int32_t rank;
    int32_t merged;
  };
  static uint64_t Key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  const Rule* Find(int32_t left, int32_t right) const;

  std::unordered_map<uint64_t, Rule> pairs_;
};

}  // namespace dsagent::engine
