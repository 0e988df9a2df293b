// TextStream: turns the bytes of sampled tokens into text that is safe to show as it arrives.
// Never emits half a UTF-8 character (a token may end inside one), never emits bytes that could
// be the start of a stop string, and stops at the first stop string (which is not emitted).
// Invalid UTF-8 (a random model can produce it) is emitted as U+FFFD, so every piece is valid
// UTF-8 and JSON-serialisable. Not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsagent::engine {

// Length of the longest prefix of `s` that does not end inside an incomplete (but so far valid)
// UTF-8 sequence.
size_t CompleteUtf8PrefixLength(std::string_view s);

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop_strings = {});

  // Appends one token's bytes. Returns the text that became certain (maybe empty). After a stop
  // string matched, stopped() is true, the returned text ends before it, and further calls
  // return "".
  std::string Append(std::string_view bytes);
  // The held-back rest at the end of generation (an unfinished character becomes U+FFFD).
  std::string Flush();

  bool stopped() const { return stopped_; }
  const std::string& matched_stop() const { return matched_stop_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // raw bytes not yet emitted
  bool stopped_ = false;
  std::string matched_stop_;
};

}  // namespace dsagent::engine
