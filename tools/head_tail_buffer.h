// Output capping that keeps both ends: the start of a command's output says what it was doing, the
// end says how it finished (errors, summaries), so the middle is what gets dropped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dsagent {

// Accumulates a byte stream in bounded memory (about 2 x cap_bytes), keeping its first and last
// cap_bytes / 2 bytes. Not thread-safe.
class HeadTailBuffer {
 public:
  explicit HeadTailBuffer(size_t cap_bytes);

  void Append(std::string_view data);

  size_t total_bytes() const { return total_bytes_; }
  bool truncated() const { return total_bytes_ > cap_bytes_; }

  // Valid UTF-8. Everything appended when it fits in cap_bytes; otherwise the head, a marker line
  // "[... N bytes omitted ...]" and the tail, cut on UTF-8 sequence boundaries.
  std::string Finish() const;

 private:
  size_t cap_bytes_;
  size_t head_cap_bytes_;
  size_t tail_cap_bytes_;
  size_t total_bytes_ = 0;
  std::string head_;
  std::string tail_;  // may hold up to 2 x tail_cap_bytes_ before it is trimmed
};

}  // namespace dsagent
