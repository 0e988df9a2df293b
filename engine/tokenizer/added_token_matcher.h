// AddedTokenMatcher: finds added/special tokens ("<｜User｜>", "<think>", ...) in text the way
// Hugging Face tokenizers and transformers.js do — the leftmost occurrence, the longest token at
// that position — with a byte trie, so a scan costs O(text length x longest token) whatever the
// number of tokens (V3/V4 files add ~800) or how often their first byte occurs.
//
// Thread-safety: Add() before sharing; Next() is const and may run concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent::engine {

class AddedTokenMatcher {
 public:
  AddedTokenMatcher();

  // Adds `text` (non-empty) as token `id`; adding the same text again replaces its id.
  void Add(std::string_view text, int32_t id);

  // Marks a result that depends on where the text ends (see Match::read_end).
  static constexpr size_t kReadToEnd = std::string_view::npos;
  struct Match {
    size_t pos = std::string_view::npos;  // npos: none
    size_t length = 0;                    // bytes
    int32_t id = -1;
    // One past the last byte of the text this result depends on: any text whose bytes
    // [from, read_end) are the same gets the same Match. kReadToEnd when it also depends on the
    // text ending where it does (a longer token might have matched had it gone on, or none was
    // found). Never less than pos + length for a match. This is what lets an encoding resume
    // just after a token even when the token ends a text (bpe_tokenizer.h).
    size_t read_end = kReadToEnd;
  };
  // The first token occurrence at or after `from`, the longest one at that position.
  Match Next(std::string_view text, size_t from) const;
  // The longest token's length in bytes: Next() never looks further than this past a position
  // it tries.
  size_t longest() const { return longest_; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // byte -> node, sorted by byte
    int32_t id = -1;                                          // a token ends here
  };
  int32_t Child(int32_t node, unsigned char byte) const;

  std::vector<Node> nodes_;  // nodes_[0] is the root
  bool starts_[256] = {};    // bytes some token starts with
  size_t longest_ = 0;
};

}  // namespace dsagent::engine
