// BpeTokenizer: Hugging Face `tokenizer.json` byte-level BPE as DeepSeek ships it — added/special
// tokens matched first (leftmost, longest), then the pre-tokenizer sequence (Split regexes with
// Unicode classes, via PCRE2; then ByteLevel), then BPE merges by rank. Encode and decode.
// Encode takes near-linear time on any input (O(n log n) per pre-token; see bpe_merge_table.h):
// a megabyte of one repeated character, base64 or minified code encodes in well under a second.
// Immutable after Load(), so concurrent Encode/Decode calls are safe; the internal cache of short
// pre-tokens is mutex-guarded and bounded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "engine/tokenizer/added_token_matcher.h"
#include "engine/tokenizer/bpe_merge_table.h"
#include "engine/tokenizer/v4_special_tokens.h"

namespace dsagent::engine {

class BpeTokenizer {
 public:
  // Error: unreadable/invalid JSON, an unsupported model or pre-tokenizer type, a regex PCRE2
  // rejects — each naming the file and the part.
  static Expected<std::unique_ptr<BpeTokenizer>, std::string> Load(
      const std::filesystem::path& tokenizer_json);
  ~BpeTokenizer();

  // Token ids of `text`; added tokens in the text (e.g. "<｜User｜>") become their ids. When
  // `cancel` (may be null) fires, returns early with incomplete ids: check it before using them.
  std::vector<int32_t> Encode(std::string_view text, const CancelToken* cancel = nullptr) const;

  // Ids of a text together with the points where its encoding can resume: the end of each added
  // token. Encoding is compositional there (added tokens are matched first and the pieces between
  // them encode independently), so a text that shares a prefix with an earlier one need only
  // encode what follows the last such point that the shared prefix decides. This is what makes a
  // chat prompt that grew by one turn cost the new turn, not the conversation
  // (prompt_token_cache.h, conversation_prompt.h).
  struct Encoding {
    std::vector<int32_t> ids;
    struct ResumePoint {
      size_t byte = 0;  // offset in the text just past an added token
      size_t ids = 0;   // ids before that offset
      // The ids before `byte` depend only on the text's first `read_end` bytes: how far the
      // added-token matcher looked to decide every token up to here (>= byte; may pass it when a
      // longer token could have started here). AddedTokenMatcher::kReadToEnd when they depend on
      // the text ending where it did. The point is valid for any text sharing that many bytes.
      size_t read_end = 0;
    };
    std::vector<ResumePoint> resume_points;  // ascending, in byte and in read_end
  };
  // Encode(text) with its resume points, reusing `previous` (the Encoding of `previous_text`, or
  // null) up to the last of its resume points whose read_end the two texts share. The ids always
  // equal Encode(text). When `cancel` fires the result is incomplete, as with Encode.
  Encoding EncodeResuming(std::string_view text, std::string_view previous_text,
                          const Encoding* previous, const CancelToken* cancel = nullptr) const;
  // The same in place, for a caller that knows how much is shared: `encoding` holds the Encoding
  // of a text whose first `shared` bytes equal `text`'s (`shared` no more than that text's
  // length), and becomes the Encoding of `text`. No comparison and no copy of the kept part, so a
  // prompt grown by a turn costs the turn. Returns the byte of `text` it encoded from (the resume
  // point it kept, or 0). When `cancel` fires the result is incomplete (clear it before reusing
  // it).
  size_t EncodeInPlace(Encoding& encoding, std::string_view text, size_t shared,
                       const CancelToken* cancel = nullptr) const;
  // Text of `ids`. Error: an id outside the vocabulary (named).
  Expected<std::string, std::string> Decode(const std::vector<int32_t>& ids) const;

  // Adds special tokens the file lacks (matched before BPE, decoded verbatim). A token whose text
  // is already known keeps its id from the file. Returns how many were added. Error: an id that
  // the file gives to a different token (named), or a negative id. Call before sharing the
  // tokenizer between threads.
  Expected<int, std::string> AddSpecialTokens(std::span<const SpecialToken> tokens);
  // True for added/special tokens (BOS, EOS, <think>, ...): their text is a marker, not content.
  bool IsSpecial(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < is_added_.size() &&
           is_added_[static_cast<size_t>(id)];
  }

  // One past the largest id (ids in between may be unused).
  size_t vocab_size() const { return id_to_token_.size(); }
  // The id of an exact token string (vocabulary or added), or -1.
  int32_t TokenId(const std::string& token) const;

 private:
  // Drops what follows the last resume point of `encoding` that stays valid for a text sharing
  // its first `shared` bytes; returns that point's byte offset (0: nothing kept).
  size_t KeepValidPrefix(Encoding& encoding, size_t shared) const;
  // Encodes text[pos, end) onto `encoding`, recording resume points.
  void EncodeFrom(Encoding& encoding, std::string_view text, size_t pos,
                  const CancelToken* cancel) const;
  struct Regex;
  BpeTokenizer() = default;
  // Pieces of `text` (views into it) after every Split pre-tokenizer, empty ones dropped.
  void PreTokenize(std::string_view text, std::vector<std::string_view>* pieces) const;
  void EncodePlain(std::string_view text, std::vector<int32_t>* out,
                   const CancelToken* cancel) const;
  void EncodePiece(std::string_view piece, std::vector<int32_t>* out,
                   const CancelToken* cancel) const;

  // Pieces up to this many bytes are cached (short words recur; long runs do not), and the cache
  // starts over once it holds kMaxCachedPieces.
  static constexpr size_t kMaxCachedPieceBytes = 128;
  static constexpr size_t kMaxCachedPieces = 1 << 16;

  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  BpeMergeTable merges_;
  AddedTokenMatcher added_;
  std::vector<bool> is_added_;                  // by id
  std::vector<std::unique_ptr<Regex>> splits_;  // Split pre-tokenizers, in order
  std::string byte_to_unicode_[256];
  int32_t byte_to_id_[256] = {};  // the token of each byte's byte-level character, -1 if none
  std::unordered_map<std::string, uint8_t> unicode_to_byte_;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace dsagent::engine
