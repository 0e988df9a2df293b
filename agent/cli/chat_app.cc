#include "agent/cli/chat_app.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "agent/cli/mcp_trust_prompt.h"
#include "agent/cli/slash_commands.h"
#include "agent/ui/fold.h"
#include "agent/ui/status_line.h"

namespace dsagent {
namespace {

std::string Trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

}  // namespace

ChatApp::ChatApp(const ChatOptions& options, Screen& screen, LineReader& reader)
    : options_(options),
      screen_(screen),
      reader_(reader),
      renderer_(screen, {.show_reasoning = options.show_reasoning}),
      approver_(screen, reader) {
  approver_.set_on_diff_shown([this](const std::string& id) { renderer_.SkipDiffFor(id); });
}

void ChatApp::Note(const std::string& text) {
  screen_.Line(screen_.Paint(Style::kDim, text));
  screen_.Flush();
}

void ChatApp::Error(const std::string& text) {
  screen_.Line(screen_.Paint(Style::kRed, text));
  screen_.Flush();
}

SessionOpenOptions ChatApp::NewSessionOptions() {
  SessionOpenOptions o;
  o.repo = session_ ? session_->agent().workspace() : std::filesystem::path(options_.repo);
  o.flags = options_.flags;
  o.permission_front = PermissionFront::kInteractive;
  o.local_engines = &engines_;
  o.local_load = LocalLoadLines([this](const std::string& line) { Note(line); });
  Screen& screen = screen_;
  LineReader& reader = reader_;
  o.ask_mcp_trust = [&screen, &reader](const McpServerConfig& server) {
    return AskMcpServerTrust(screen, reader, server);
  };
  return o;
}

bool ChatApp::OpenSession(const SessionOpenOptions& options) {
  CancelToken cancel;
  RetargetInterruptHandler(cancel);
  auto opened = ChatSession::Open(options, cancel);
  if (!opened) {
    const SessionOpenError& e = opened.error();
    for (const auto& w : e.warnings) Note("warning: " + w);
    Error("dsagent: " + (e.termination.message.empty() ? std::string(e.termination.Name())
                                                       : e.termination.message));
    open_failure_exit_code_ = e.termination.ExitCode();
    return false;
  }
  DiscardIfUnused();
  session_ = std::move(*opened);
  session_->agent().settings().approver = &approver_;
  for (const auto& w : session_->agent().warnings()) Note("warning: " + w);
  PrintBanner();
  if (session_->agent().resumed()) PrintResumedTail();
  return true;
}

void ChatApp::DiscardIfUnused() {
  if (!session_ || session_->agent().resumed() || session_->turns() > 0) return;
  std::error_code ec;
  std::filesystem::remove(session_->agent().trace_path(), ec);
}

void ChatApp::PrintBanner() {
  const AgentSession& a = session_->agent();
  const AgentSettings& st = a.settings();
  std::string lane = LaneLabel(session_->CurrentLane());
  if (st.router) lane += " [" + st.router->name() + "]";
  screen_.Line(screen_.Paint(Style::kBold, "dsagent " DSAGENT_VERSION) + " · " +
               (a.resumed() ? "resumed " : "session ") + a.id() + " · " + a.provider_name() + " " +
               lane);
  const std::string mode =
      st.permissions ? "mode " + PermissionModeName(st.permissions->mode()) + " · " : "";
  Note(FitWidth(a.workspace().string() + " · " + mode + "/help for commands, Ctrl-D to leave",
                screen_.width()));
}

void ChatApp::PrintResumedTail() {
  const auto log = session_->agent().context().log();
  for (size_t i = log.size(); i-- > 0;) {
    const Message& m = log[i];
    if (m.role == Role::kAssistant && !m.content.empty()) {
      Note("last answer:");
      const FoldedText folded = FoldLines(m.content, 6, 4);
      for (const auto& line : folded.lines) screen_.Line("  " + FitWidth(line, screen_.width()));
      break;
    }
  }
  if (session_->usage().session_calls() > 0) PrintStatus();
}

void ChatApp::PrintStatus() {
  const UsageMeter& u = session_->usage();
  const AgentSettings& st = session_->agent().settings();
  StatusFields f;
  f.lane = session_->CurrentLane();
  f.policy = st.router ? st.router->name() : "";
  f.context_tokens = u.context_tokens();
  if (const ModelInfo* info = session_->agent().catalog().Find(f.lane.model)) {
    f.context_window = info->context_tokens;
  }
  f.session_cost_usd = u.session_cost_usd();
  f.turn_cost_usd = u.turn_cost_usd();
  if (u.last_call()) f.last_hit = CacheHitRate(*u.last_call());
  if (u.session_calls() > 0) f.session_hit = CacheHitRate(u.session_usage());
  Note(FormatStatusLine(f, screen_.width()));
}

void ChatApp::RunUserTurn(const std::string& text) {
  CancelToken turn;
  RetargetInterruptHandler(turn);
  approver_.set_cancel(turn);
  const RunEnvelope env = session_->RunTurn(text, renderer_, turn);
  renderer_.Settle();
  const Termination& t = env.termination;
  if (t.reason == TerminationReason::kInterrupted && TerminationRequested()) {
    screen_.Line(screen_.Paint(Style::kYellow, "terminated") + " (SIGTERM); the session is saved");
  } else if (t.reason == TerminationReason::kInterrupted) {
    screen_.Line(screen_.Paint(Style::kYellow, "interrupted") + " — back at the prompt");
  } else if (t.reason == TerminationReason::kMaxSteps || t.reason == TerminationReason::kMaxCost ||
             t.reason == TerminationReason::kTimeout) {
    screen_.Line(screen_.Paint(Style::kYellow, "stopped: " + std::string(t.Name())) +
                 " (a per-turn limit; send another message to go on)");
  } else if (t.reason != TerminationReason::kDone) {
    Error(t.Name() + (t.message.empty() ? "" : ": " + t.message));
    if (t.reason == TerminationReason::kErrorEngineLost) {
      // Every later turn would fail the same way: a lost GPU's process (this one, with the local
      // engine; `dsagent serve`, which exits) must start again.
      Note("The model's engine can run nothing more until it is restarted (its GPU was lost). " +
           std::string("This session is saved: leave, and go on with `dsagent chat --resume ") +
           session_->agent().id() +
           "` once it runs again (add `--provider deepseek` to go on over the DeepSeek API).");
    }
  }
  PrintStatus();
}

int ChatApp::Run() {
  SessionOpenOptions first = NewSessionOptions();
  first.resume = options_.resume;
  if (!OpenSession(first)) {
    return open_failure_exit_code_;
  }
  const std::string prompt = screen_.Paint(Style::kCyan, "›") + " ";
  const std::string continuation = screen_.Paint(Style::kDim, "…") + " ";
  bool interrupted_before = false;
  // Between reads Ctrl-C cancels `idle`. A fresh one is targeted right after each read, before
  // anything is printed, so a Ctrl-C typed after the "Ctrl-C again" note (while the terminal is
  // still cooked) reaches the next read.
  CancelToken idle;
  while (true) {
    RetargetInterruptHandler(idle);  // again: a turn or a slash command may have moved it
    reader_.set_interrupt_token(idle);
    // A SIGTERM from before the retarget (during start-up, a turn or a slash command) cancelled
    // another token; one after it cancels `idle`, which ends the read.
    if (TerminationRequested()) break;
    const InputEvent in = ReadMessage(reader_, prompt, continuation);
    idle = CancelToken();
    RetargetInterruptHandler(idle);
    if (in.kind == InputEvent::Kind::kEof) break;
    if (TerminationRequested()) break;  // SIGTERM while reading
    if (in.kind == InputEvent::Kind::kInterrupt) {
      if (interrupted_before) break;
      interrupted_before = true;
      Note("(Ctrl-C again or Ctrl-D to leave)");
      continue;
    }
    interrupted_before = false;
    const std::string text = Trimmed(in.text);
    if (text.empty()) continue;
    reader_.AddHistory(in.text);
    if (text[0] == '/') {
      if (RunSlashCommand(*this, text) == SlashResult::kExit) break;
      continue;
    }
    RunUserTurn(in.text);
  }
  DiscardIfUnused();
  return TerminationRequested() ? 128 + SIGTERM : 0;
}

}  // namespace dsagent
