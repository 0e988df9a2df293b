// PromptTokenCache: the token ids of recent prompts, so that a chat prompt that extends one seen
// before (the next turn of a conversation, or the same request again) is tokenized from the last
// shared resume point on instead of from its start (BpeTokenizer::EncodeResuming). At a 1M-token
// conversation the prompt is megabytes and tokenizing it whole took seconds per turn; the prefix
// KV cache already skips the model's work for the shared part, and this skips the tokenizer's.
//
// Thread-safe. Holds at most `capacity` prompts (text and ids), the least recently used dropped
// first; a prompt that extends a held one replaces it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/cancel.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {

class PromptTokenCache {
 public:
  explicit PromptTokenCache(size_t capacity = 4) : capacity_(capacity) {}

  // tokenizer.Encode(text), reusing the held prompt that shares the longest prefix with `text`.
  // A cancelled encoding is returned incomplete (check `cancel`) and not kept.
  std::vector<int32_t> Encode(const BpeTokenizer& tokenizer, std::string_view text,
                              const CancelToken* cancel = nullptr);

  // How many prompts are held (tests).
  size_t size() const;

 private:
  struct Entry {
    std::string text;
    BpeTokenizer::Encoding encoding;
  };

  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const Entry>> entries_;  // guarded by mu_
  std::vector<uint64_t> last_used_;                    // by entry; guarded by mu_
  uint64_t clock_ = 0;                                 // guarded by mu_
};

}  // namespace dsagent::engine
