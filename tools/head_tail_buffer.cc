#include "tools/head_tail_buffer.h"

#include <algorithm>

#include "common/utf8.h"

namespace dsagent {
namespace {

// Length of `s` without a trailing, incomplete multi-byte sequence (the head is cut mid-stream).
size_t WithoutTrailingPartialSequence(std::string_view s) {
  size_t start = s.size();
  int continuation = 0;
  while (start > 0 && continuation < 3 &&
         (static_cast<unsigned char>(s[start - 1]) & 0xC0) == 0x80) {
    --start;
    ++continuation;
  }
  if (start == 0) return s.size();  // no lead byte: invalid anyway, SanitizeUtf8 handles it
  const auto lead = static_cast<unsigned char>(s[start - 1]);
  const size_t need = (lead & 0xE0) == 0xC0   ? 2
                      : (lead & 0xF0) == 0xE0 ? 3
                      : (lead & 0xF8) == 0xF0 ? 4
                                              : 1;
  return static_cast<size_t>(continuation) + 1 < need ? start - 1 : s.size();
}

}  // namespace

HeadTailBuffer::HeadTailBuffer(size_t cap_bytes)
    : cap_bytes_(cap_bytes),
      head_cap_bytes_(cap_bytes / 2),
      tail_cap_bytes_(cap_bytes - cap_bytes / 2) {}

void HeadTailBuffer::Append(std::string_view data) {
  total_bytes_ += data.size();
  if (head_.size() < head_cap_bytes_) {
    const size_t take = std::min(head_cap_bytes_ - head_.size(), data.size());
    head_.append(data.substr(0, take));
    data.remove_prefix(take);
  }
  if (data.empty()) return;
  if (data.size() >= tail_cap_bytes_) {
    tail_.assign(data.substr(data.size() - tail_cap_bytes_));
    return;
  }
  tail_.append(data);
  // Trim lazily so that many small appends stay amortised O(1) per byte.
  if (tail_.size() > 2 * tail_cap_bytes_) tail_.erase(0, tail_.size() - tail_cap_bytes_);
}

std::string HeadTailBuffer::Finish() const {
  if (!truncated()) return SanitizeUtf8(head_ + tail_);
  const std::string_view head(head_.data(), WithoutTrailingPartialSequence(head_));
  std::string_view tail(tail_);
  if (tail.size() > tail_cap_bytes_) tail.remove_prefix(tail.size() - tail_cap_bytes_);
  // Start the tail on a sequence boundary: skip continuation bytes (at most 3).
  size_t skip = 0;
  while (skip < tail.size() && skip < 3 &&
         (static_cast<unsigned char>(tail[skip]) & 0xC0) == 0x80) {
    ++skip;
  }
  tail.remove_prefix(skip);
  const size_t omitted = total_bytes_ - head.size() - tail.size();
  std::string out(head);
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += "[... " + std::to_string(omitted) + " bytes omitted ...]\n";
  out.append(tail);
  return SanitizeUtf8(out);
}

}  // namespace dsagent
