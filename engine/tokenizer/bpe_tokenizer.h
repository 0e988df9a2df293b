// BpeTokenizer: Hugging Face `tokenizer.json` byte-level BPE as DeepSeek ships it — added/special
// tokens matched first, then the pre-tokenizer sequence (Split regexes with Unicode classes, via
// PCRE2; then ByteLevel), then BPE merges by rank. Encode and decode. Immutable after Load(), so
// concurrent Encode/Decode calls are safe except for the internal word cache (mutex-guarded).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/expected.h"

namespace dsagent::engine {

class BpeTokenizer {
 public:
  // Error: unreadable/invalid JSON, an unsupported model or pre-tokenizer type, a regex PCRE2
  // rejects — each naming the file and the part.
  static Expected<std::unique_ptr<BpeTokenizer>, std::string> Load(
      const std::filesystem::path& tokenizer_json);
  ~BpeTokenizer();

  // Token ids of `text`; added tokens in the text (e.g. "<｜User｜>") become their ids.
  std::vector<int32_t> Encode(std::string_view text) const;
  // Text of `ids`. Error: an id outside the vocabulary (named).
  Expected<std::string, std::string> Decode(const std::vector<int32_t>& ids) const;

  size_t vocab_size() const { return id_to_token_.size(); }
  // The id of an exact token string (vocabulary or added), or -1.
  int32_t TokenId(const std::string& token) const;

 private:
  struct Regex;
  BpeTokenizer() = default;
  void PreTokenize(std::string_view text, std::vector<std::string>* pieces) const;
  void EncodeWord(const std::string& byte_level_word, std::vector<int32_t>* out) const;

  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int32_t> merge_rank_;  // "left right" -> rank
  std::vector<std::pair<std::string, int32_t>> added_;   // content, id (longest first)
  std::vector<bool> is_added_;                           // by id
  std::vector<std::unique_ptr<Regex>> splits_;           // Split pre-tokenizers, in order
  std::string byte_to_unicode_[256];
  std::unordered_map<std::string, uint8_t> unicode_to_byte_;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace dsagent::engine
