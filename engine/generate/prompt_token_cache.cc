#include "engine/generate/prompt_token_cache.h"

#include <algorithm>

namespace dsagent::engine {
namespace {

size_t SharedPrefixBytes(std::string_view a, std::string_view b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
                             a.begin());
}

}  // namespace

std::vector<int32_t> PromptTokenCache::Encode(const BpeTokenizer& tokenizer, std::string_view text,
                                              const CancelToken* cancel) {
  std::shared_ptr<const Entry> base;
  size_t base_index = 0;
  {
    std::lock_guard lock(mu_);
    size_t best = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      const size_t shared = SharedPrefixBytes(text, entries_[i]->text);
      if (shared > best) {
        best = shared;
        base = entries_[i];
        base_index = i;
      }
    }
    if (base) last_used_[base_index] = ++clock_;
  }
  // Outside the lock: tokenizing the new part is the slow step, and other prompts may proceed.
  auto entry = std::make_shared<Entry>();
  entry->encoding = base ? tokenizer.EncodeResuming(text, base->text, &base->encoding, cancel)
                         : tokenizer.EncodeResuming(text, {}, nullptr, cancel);
  std::vector<int32_t> ids = entry->encoding.ids;
  if (cancel != nullptr && cancel->IsCancelled()) return ids;
  if (capacity_ == 0) return ids;
  entry->text = std::string(text);

  std::lock_guard lock(mu_);
  // The new prompt replaces the one it extends (that conversation moved on); otherwise the least
  // recently used goes when the cache is full.
  size_t slot = entries_.size();
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i] == base && text.substr(0, base->text.size()) == base->text) slot = i;
  }
  if (slot == entries_.size() && entries_.size() >= capacity_) {
    slot = static_cast<size_t>(std::min_element(last_used_.begin(), last_used_.end()) -
                               last_used_.begin());
  }
  if (slot == entries_.size()) {
    entries_.push_back(std::move(entry));
    last_used_.push_back(++clock_);
  } else {
    entries_[slot] = std::move(entry);
    last_used_[slot] = ++clock_;
  }
  return ids;
}

size_t PromptTokenCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace dsagent::engine
