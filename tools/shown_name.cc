#include "tools/shown_name.h"

#include <cstdio>

#include "common/utf8.h"

namespace dsagent {
namespace {

bool IsControl(unsigned char u) { return u < 0x20 || u == 0x7f; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool NeedsQuoting(std::string_view name) {
  if (!name.empty() && name.front() == '"') return true;
  for (size_t i = 0; i < name.size();) {
    const size_t n = Utf8SequenceLength(name, i);
    if (n == 0 || IsControl(static_cast<unsigned char>(name[i]))) return true;
    i += n;
  }
  return false;
}

std::string ShownName(std::string_view name) {
  if (!NeedsQuoting(name)) return std::string(name);
  std::string out = "\"";
  char hex[8];
  for (size_t i = 0; i < name.size();) {
    const size_t n = Utf8SequenceLength(name, i);
    const auto u = static_cast<unsigned char>(name[i]);
    if (n == 0) {  // a byte JSON cannot carry: the escaped backslash keeps the literal valid
      std::snprintf(hex, sizeof hex, "\\\\x%02x", u);
      out += hex;
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(name.substr(i, n));
      i += n;
      continue;
    }
    ++i;
    switch (u) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (IsControl(u)) {
          std::snprintf(hex, sizeof hex, "\\u%04x", u);
          out += hex;
        } else {
          out += static_cast<char>(u);
        }
    }
  }
  return out + "\"";
}

std::optional<std::string> DecodeShownByteEscapes(std::string_view spelled) {
  std::string out;
  bool decoded = false;
  for (size_t i = 0; i < spelled.size(); ++i) {
    if (spelled[i] == '\\' && i + 3 < spelled.size() && spelled[i + 1] == 'x') {
      const int hi = HexValue(spelled[i + 2]);
      const int lo = HexValue(spelled[i + 3]);
      if (hi >= 8 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 3;
        decoded = true;
        continue;
      }
    }
    out += spelled[i];
  }
  if (!decoded) return std::nullopt;
  return out;
}

}  // namespace dsagent
