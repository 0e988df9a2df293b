#include "common/shell_quote.h"

namespace dsagent {

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ShellQuoteIfNeeded(std::string_view s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$") == std::string_view::npos) return std::string(s);
  return ShellQuote(s);
}

}  // namespace dsagent
