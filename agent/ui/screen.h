// Screen: where the interactive assistant writes, and what that output supports — colour (only on
// a terminal, and never with NO_COLOR set), the width in columns (0 = unlimited, e.g. a pipe), and
// live rewriting of the current line (terminals only; plain output never gets escapes or
// carriage-return redraws). Tracks whether the cursor is mid-line so that blocks start on a fresh
// line. Not thread-safe: the agent loop and the prompt share the main thread.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace dsagent {

enum class Style { kPlain, kDim, kBold, kRed, kGreen, kYellow, kCyan, kMagenta };

class Screen {
 public:
  struct Options {
    bool tty = false;    // a terminal: live line rewrites allowed
    bool color = false;  // SGR colour codes allowed
    int width = 0;       // fixed width in columns; 0 = unlimited; -1 = ask the terminal each time
  };
  // Detects the options for `out`: tty = isatty, colour = tty && NO_COLOR unset (or empty) &&
  // TERM != dumb, width from the terminal (or COLUMNS when not a terminal, else unlimited).
  explicit Screen(std::FILE* out);
  Screen(std::FILE* out, Options options) : out_(out), options_(options) {}

  bool tty() const { return options_.tty; }
  bool color() const { return options_.color; }
  // Current width in columns; 0 = unlimited.
  int width() const;

  // `text` wrapped in the style's SGR codes when colour is on; `text` unchanged otherwise.
  std::string Paint(Style style, std::string_view text) const;

  void Write(std::string_view text);  // as is; tracks mid-line
  void EndLine();                     // a newline when mid-line
  void Line(std::string_view text);   // EndLine(), then `text` and a newline
  // Terminals: replaces the current line with `text` (cut to the width). Elsewhere: no-op; the
  // caller prints a final line instead.
  void Rewrite(std::string_view text);
  // Terminals: clears a line drawn by Rewrite. Elsewhere: no-op.
  void ClearRewritten();
  void Flush() { std::fflush(out_); }

  std::FILE* file() const { return out_; }

 private:
  std::FILE* out_;
  Options options_;
  bool mid_line_ = false;
  bool rewritten_ = false;  // the current line holds a Rewrite() text
};

// `text` cut to at most `columns` code points (one column each; an approximation for wide
// characters), ending in "…" when cut. `columns` 0 = unlimited. Never splits a UTF-8 sequence.
std::string FitWidth(std::string_view text, int columns);
// Number of code points in `text` (the column estimate FitWidth uses).
size_t DisplayWidth(std::string_view text);

}  // namespace dsagent
