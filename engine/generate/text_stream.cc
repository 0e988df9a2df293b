#include "engine/generate/text_stream.h"

#include <algorithm>

#include "common/utf8.h"

namespace dsagent::engine {

size_t CompleteUtf8PrefixLength(std::string_view s) {
  for (size_t k = 1; k <= 4 && k <= s.size(); ++k) {
    const auto c = static_cast<unsigned char>(s[s.size() - k]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: keep looking for its lead
    const size_t need = c >= 0xF8 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > k ? s.size() - k : s.size();
  }
  return s.size();
}

TextStream::TextStream(std::vector<std::string> stop_strings) {
  for (auto& s : stop_strings) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string TextStream::Append(std::string_view bytes) {
  if (stopped_) return "";
  pending_.append(bytes);
  // The earliest stop string (held-back bytes guarantee a match cannot start in emitted text).
  size_t first = std::string::npos;
  for (const auto& stop : stops_) {
    const size_t p = pending_.find(stop);
    if (p < first) {
      first = p;
      matched_stop_ = stop;
    }
  }
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = SanitizeUtf8(std::string_view(pending_).substr(0, first));
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, pending_.size()); n > hold; --n) {
      if (std::string_view(pending_).substr(pending_.size() - n) ==
          std::string_view(stop).substr(0, n)) {
        hold = n;
        break;
      }
    }
  }
  const std::string_view ready = std::string_view(pending_).substr(0, pending_.size() - hold);
  const size_t n = CompleteUtf8PrefixLength(ready);
  std::string out = SanitizeUtf8(ready.substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string TextStream::Flush() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace dsagent::engine
