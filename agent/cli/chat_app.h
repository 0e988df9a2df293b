// ChatApp: the interactive assistant (`dsagent`, `dsagent chat`). It reads a message at the
// prompt, runs it as one turn of the current ChatSession with the ChatRenderer showing it, prints
// a status line (lane, context, cost, cache hits), and dispatches slash commands
// (slash_commands.h). Ctrl-C during a turn interrupts the step and returns to the prompt; Ctrl-C
// twice at the prompt, Ctrl-D or /exit leave. On a terminal input is edited with libedit; from a
// pipe each line is a message and output is plain text.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/cli/chat_session.h"
#include "agent/providers/local_engines.h"
#include "agent/ui/chat_renderer.h"
#include "agent/ui/line_reader.h"
#include "agent/ui/screen.h"
#include "agent/ui/terminal_approver.h"

namespace dsagent {

struct ChatOptions {
  std::string repo;    // workspace; default: current directory (or the resumed session's repo)
  std::string resume;  // session id to continue
  bool show_reasoning = false;
  // Command-line config overrides as (dotted key, value): provider, model, effort, ...
  std::vector<std::pair<std::string, std::string>> flags;
};

class ChatApp {
 public:
  ChatApp(const ChatOptions& options, Screen& screen, LineReader& reader);

  // The prompt loop. Returns the exit code.
  int Run();

  // For the slash commands.
  Screen& screen() { return screen_; }
  ChatRenderer& renderer() { return renderer_; }
  ChatSession& session() { return *session_; }
  // Opens (or resumes) a session and makes it current; on failure prints why and keeps the
  // current one. Returns whether it opened.
  bool OpenSession(const SessionOpenOptions& options);
  // A new session's options: this workspace and the command line's flags.
  SessionOpenOptions NewSessionOptions();
  void PrintStatus();
  void Note(const std::string& text);   // a dim line
  void Error(const std::string& text);  // a red line

 private:
  void RunUserTurn(const std::string& text);
  void PrintBanner();
  void PrintResumedTail();
  // Removes the current session's trace when it is new and got no message: leaving the prompt
  // (or /clear) right away leaves no empty session behind.
  void DiscardIfUnused();

  ChatOptions options_;
  Screen& screen_;
  LineReader& reader_;
  ChatRenderer renderer_;
  TerminalApprover approver_;
  // Provider local: the model the sessions share, so /clear and /resume do not load it again (it
  // outlives session_).
  LocalEngines engines_;
  std::unique_ptr<ChatSession> session_;
  int open_failure_exit_code_ = 0;
};

}  // namespace dsagent
