#include "agent/config/scalar.h"

#include <array>
#include <charconv>
#include <cmath>

namespace dsagent {
namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char ca = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (ca != b[i]) return false;
  }
  return true;
}

// Reads exactly `digits` decimal digits at `pos`, advancing it. nullopt if any is not a digit.
std::optional<int> ReadDigits(std::string_view text, size_t& pos, size_t digits) {
  if (pos + digits > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = 0; i < digits; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += digits;
  return value;
}

bool Expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<bool> ParseBool(std::string_view text) {
  static constexpr std::array<std::string_view, 4> kTrue = {"true", "on", "yes", "1"};
  static constexpr std::array<std::string_view, 4> kFalse = {"false", "off", "no", "0"};
  for (std::string_view t : kTrue) {
    if (EqualsIgnoringCase(text, t)) return true;
  }
  for (std::string_view f : kFalse) {
    if (EqualsIgnoringCase(text, f)) return false;
  }
  return std::nullopt;
}

std::optional<int64_t> ParseInt64(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<double> ParseFiniteDouble(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, std::chars_format::general);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::chrono::sys_seconds> ParseUtcTimestamp(std::string_view text) {
  namespace chr = std::chrono;
  size_t pos = 0;
  const auto year = ReadDigits(text, pos, 4);
  if (!year || !Expect(text, pos, '-')) return std::nullopt;
  const auto month = ReadDigits(text, pos, 2);
  if (!month || !Expect(text, pos, '-')) return std::nullopt;
  const auto day = ReadDigits(text, pos, 2);
  if (!day) return std::nullopt;
  const chr::year_month_day date{chr::year(*year), chr::month(static_cast<unsigned>(*month)),
                                 chr::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  chr::seconds time_of_day{0};
  if (pos < text.size()) {
    if (!Expect(text, pos, 'T')) return std::nullopt;
    const auto hour = ReadDigits(text, pos, 2);
    if (!hour || !Expect(text, pos, ':')) return std::nullopt;
    const auto minute = ReadDigits(text, pos, 2);
    if (!minute) return std::nullopt;
    std::optional<int> second = 0;
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      second = ReadDigits(text, pos, 2);
      if (!second) return std::nullopt;
    }
    if (*hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
    const std::string_view zone = text.substr(pos);
    if (zone != "Z" && zone != "+00:00") return std::nullopt;
    time_of_day = chr::hours(*hour) + chr::minutes(*minute) + chr::seconds(*second);
  }
  return chr::sys_days(date) + time_of_day;
}

}  // namespace dsagent
