#include "engine/tokenizer/bpe_merge_table.h"

#include <functional>
#include <queue>

namespace dsagent::engine {

void BpeMergeTable::Add(int32_t left, int32_t right, int32_t merged, int32_t rank) {
  pairs_.emplace(Key(left, right), Rule{rank, merged});
}

const BpeMergeTable::Rule* BpeMergeTable::Find(int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return nullptr;
  auto it = pairs_.find(Key(left, right));
  return it == pairs_.end() ? nullptr : &it->second;
}

void BpeMergeTable::Merge(std::vector<int32_t>* symbols, const CancelToken* cancel) const {
  std::vector<int32_t>& ids = *symbols;
  const auto n = static_cast<int32_t>(ids.size());
  if (n < 2) return;
  // Symbol i is alive while ids[i] != kGone; next/prev link the alive ones. A merge keeps the
  // left symbol's position, so positions order symbols as the text does.
  constexpr int32_t kGone = -2;
  std::vector<int32_t> next(static_cast<size_t>(n)), prev(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
    prev[static_cast<size_t>(i)] = i - 1;
  }
  // A candidate: the pair starting at `pos`, as it was when pushed (left and right ids). It is
  // stale once either side has changed; a symbol's id only ever grows into a longer token, so
  // comparing ids is enough to tell.
  struct Candidate {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<Candidate> storage;
  storage.reserve(static_cast<size_t>(n));
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue(std::greater<>(),
                                                                               std::move(storage));
  const auto push = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t right = next[static_cast<size_t>(pos)];
    if (right < 0) return;
    const int32_t l = ids[static_cast<size_t>(pos)], r = ids[static_cast<size_t>(right)];
    if (const Rule* m = Find(l, r)) queue.push({m->rank, pos, l, r, m->merged});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  uint32_t popped = 0;
  while (!queue.empty()) {
    if (cancel != nullptr && ++popped % kCancelCheckMerges == 0 && cancel->IsCancelled()) break;
    const Candidate c = queue.top();
    queue.pop();
    const auto pos = static_cast<size_t>(c.pos);
    if (ids[pos] != c.left) continue;
    const int32_t right = next[pos];
    if (right < 0 || ids[static_cast<size_t>(right)] != c.right) continue;
    ids[pos] = c.merged;
    ids[static_cast<size_t>(right)] = kGone;
    next[pos] = next[static_cast<size_t>(right)];
    if (next[pos] >= 0) prev[static_cast<size_t>(next[pos])] = c.pos;
    push(prev[pos]);
    push(c.pos);
  }
  size_t out = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != kGone) ids[out++] = ids[i];
  }
  ids.resize(out);
}

}  // namespace dsagent::engine
