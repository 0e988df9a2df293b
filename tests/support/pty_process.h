// PtyProcess: runs a program on a pseudo-terminal the way a person at a terminal would — keys go
// in, the screen's byte stream (escape sequences included) comes out — for end-to-end tests of
// the interactive assistant. Synchronisation is by content: WaitFor() reads until the expected
// text appears, with a generous timeout only as a failure guard.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent::testing {

class PtyProcess {
 public:
  struct Options {
    std::vector<std::string> args;           // without the program itself
    std::map<std::string, std::string> env;  // the child's whole environment
    std::filesystem::path cwd;
    unsigned short rows = 40;
    unsigned short cols = 120;
  };
  // Starts `program` (forkpty + execve). Throws std::runtime_error when the pty cannot be made.
  PtyProcess(const std::string& program, const Options& options);
  ~PtyProcess();  // kills the child (SIGKILL) if it still runs
  PtyProcess(const PtyProcess&) = delete;
  PtyProcess& operator=(const PtyProcess&) = delete;

  // Types `keys` (e.g. "hello\r", "\x03" for Ctrl-C, "\x04" for Ctrl-D).
  void Write(std::string_view keys);

  // Reads until `text` appears after the cursor (the end of the previous match), then moves the
  // cursor past it. False when the timeout passes or the child exits first.
  bool WaitFor(std::string_view text, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Everything the child has written so far.
  const std::string& output() const { return output_; }
  // Output after the cursor (what the next WaitFor searches).
  std::string Pending() const { return output_.substr(cursor_); }

  // Waits for the child to exit, reading its output meanwhile. Returns the exit code (128 + the
  // signal when killed), or -1 when the timeout passed.
  int WaitExit(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  pid_t pid() const { return pid_; }

 private:
  // Reads what is available within `timeout`; false once the child closed the terminal.
  bool ReadSome(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int master_ = -1;
  std::string output_;
  size_t cursor_ = 0;
  bool closed_ = false;
  bool exited_ = false;
  int exit_code_ = -1;
};

// `text` with escape sequences shown readably (ESC as "\e", other control bytes as \xNN), for
// failure messages.
std::string Printable(std::string_view text);

}  // namespace dsagent::testing
