// Reading what the user types. On a terminal: libedit line editing (emacs keys), history kept in
// a file, and bracketed paste — a pasted block is inserted whole, newlines included, so pasting
// never submits half a message (blocks over kMaxInlinePasteLines lines show as a placeholder that
// is expanded on submit). From a pipe: plain lines. Ctrl-C while reading is an event, not a
// signal: the caller decides (clear the line, exit on the second).
#pragma once

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "common/cancel.h"

namespace dsagent {

struct InputEvent {
  enum class Kind { kLine, kInterrupt, kEof };
  Kind kind = Kind::kEof;
  std::string text;  // kLine: the line (newlines only from pastes), without the final newline
};

class LineReader {
 public:
  virtual ~LineReader() = default;
  // Shows `prompt` and reads one line. `initial` is pre-typed and editable (terminals; a plain
  // reader ignores it). The prompt may hold SGR colour codes; they are marked non-printing.
  virtual InputEvent ReadLine(const std::string& prompt, const std::string& initial = "") = 0;
  // Adds a submitted message to the history (and saves it, for terminal readers).
  virtual void AddHistory(const std::string& /*entry*/) {}
  // The token the interrupt handler cancels between reads. A Ctrl-C typed before the terminal
  // reader has left cooked mode arrives as a signal, not as a key; the next ReadLine then returns
  // kInterrupt at once instead of waiting for a key that will never come.
  void set_interrupt_token(CancelToken token) { interrupt_ = std::move(token); }

 protected:
  CancelToken interrupt_;
};

// Pasted blocks with more lines than this become a "[pasted text #N: L lines]" placeholder.
inline constexpr size_t kMaxInlinePasteLines = 30;

// libedit on the terminal `in`/`out` (both must be terminals). `history_file`: loaded now,
// appended on AddHistory, created with its directory; empty = no history file. Sets LC_CTYPE from
// the environment (C.UTF-8 when that is not UTF-8) so that UTF-8 input edits correctly.
std::unique_ptr<LineReader> MakeTerminalLineReader(std::FILE* in, std::FILE* out,
                                                   const std::filesystem::path& history_file);

// Lines from file descriptor `fd` (a pipe or file). The prompt goes to `out` only when
// `show_prompt`. A read interrupted by a signal (Ctrl-C with the interrupt handler installed)
// gives kInterrupt.
std::unique_ptr<LineReader> MakePlainLineReader(int fd, std::FILE* out, bool show_prompt);

// One message: a line, plus continuation lines while a line ends with a backslash (removed; the
// lines are joined with newlines). Ctrl-C or end of input during a continuation ends the message
// the same way.
InputEvent ReadMessage(LineReader& reader, const std::string& prompt,
                       const std::string& continuation_prompt);

// $XDG_STATE_HOME/dsagent/history (default ~/.local/state/dsagent/history).
std::filesystem::path DefaultHistoryFile();

}  // namespace dsagent
