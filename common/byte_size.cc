#include "common/byte_size.h"

#include <cctype>
#include <limits>

namespace dsagent {

std::optional<int64_t> ParseByteSize(const std::string& s) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return std::nullopt;
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (...) {
    return std::nullopt;
  }
  std::string suffix = s.substr(used);
  if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.pop_back();
  if (!suffix.empty() && suffix.back() == 'i') suffix.pop_back();
  if (suffix.empty()) return v;
  if (suffix.size() != 1) return std::nullopt;
  const std::string units = "KMGT";
  const auto at =
      units.find(static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0]))));
  if (at == std::string::npos) return std::nullopt;
  for (size_t i = 0; i <= at; ++i) {
    if (v > std::numeric_limits<int64_t>::max() / 1024) return std::nullopt;
    v *= 1024;
  }
  return v;
}

}  // namespace dsagent
