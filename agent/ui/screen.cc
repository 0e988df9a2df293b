#include "agent/ui/screen.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace dsagent {
namespace {

const char* Sgr(Style style) {
  switch (style) {
    case Style::kPlain:
      return "";
    case Style::kDim:
      return "\033[2m";
    case Style::kBold:
      return "\033[1m";
    case Style::kRed:
      return "\033[31m";
    case Style::kGreen:
      return "\033[32m";
    case Style::kYellow:
      return "\033[33m";
    case Style::kCyan:
      return "\033[36m";
    case Style::kMagenta:
      return "\033[35m";
  }
  return "";
}

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

Screen::Screen(std::FILE* out) : out_(out) {
  options_.tty = ::isatty(::fileno(out)) != 0;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  options_.color = options_.tty && (no_color == nullptr || *no_color == '\0') &&
                   !(term != nullptr && std::strcmp(term, "dumb") == 0);
  if (options_.tty) {
    options_.width = -1;
  } else if (const char* cols = std::getenv("COLUMNS"); cols != nullptr) {
    options_.width = std::max(0, std::atoi(cols));
  }
}

int Screen::width() const {
  if (options_.width >= 0) return options_.width;
  winsize ws{};
  if (::ioctl(::fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string Screen::Paint(Style style, std::string_view text) const {
  if (!options_.color || style == Style::kPlain || text.empty()) return std::string(text);
  return std::string(Sgr(style)) + std::string(text) + "\033[0m";
}

void Screen::Write(std::string_view text) {
  if (text.empty()) return;
  if (rewritten_) ClearRewritten();
  std::fwrite(text.data(), 1, text.size(), out_);
  mid_line_ = text.back() != '\n';
}

void Screen::EndLine() {
  if (rewritten_) ClearRewritten();
  if (mid_line_) std::fputc('\n', out_);
  mid_line_ = false;
}

void Screen::Line(std::string_view text) {
  EndLine();
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fputc('\n', out_);
}

void Screen::Rewrite(std::string_view text) {
  if (!options_.tty) return;
  if (mid_line_ && !rewritten_) std::fputc('\n', out_);
  const int w = width();
  std::fputs("\r\033[K", out_);
  const std::string fitted = FitWidth(text, w > 1 ? w - 1 : 0);
  std::fwrite(fitted.data(), 1, fitted.size(), out_);
  std::fflush(out_);
  rewritten_ = true;
  mid_line_ = false;
}

void Screen::ClearRewritten() {
  if (!rewritten_) return;
  std::fputs("\r\033[K", out_);
  rewritten_ = false;
}

size_t DisplayWidth(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += IsContinuationByte(c) ? 0 : 1;
  return n;
}

std::string FitWidth(std::string_view text, int columns) {
  if (columns <= 0 || DisplayWidth(text) <= static_cast<size_t>(columns)) return std::string(text);
  // Keep columns - 1 code points, then the ellipsis.
  size_t kept = 0, i = 0;
  for (; i < text.size(); ++i) {
    if (!IsContinuationByte(text[i])) {
      if (kept == static_cast<size_t>(columns - 1)) break;
      ++kept;
    }
  }
  return std::string(text.substr(0, i)) + "…";
}

}  // namespace dsagent
