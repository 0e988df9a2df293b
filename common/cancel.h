// CancelToken: a shared flag that long operations (HTTP calls, shell commands, the agent loop) poll
// so that Ctrl-C stops the current step promptly. Thread-safe; cheap to copy (shared state).
#pragma once

#include <atomic>
#include <memory>

namespace dsagent {

class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void Cancel() const { flag_->store(true); }
  bool IsCancelled() const { return flag_->load(); }

 private:
  friend void InstallInterruptHandler(const CancelToken& token);
  friend void RetargetInterruptHandler(const CancelToken& token);
  std::shared_ptr<std::atomic<bool>> flag_;
};

// Installs a SIGINT/SIGTERM handler that cancels `token`. The handler is async-signal-safe (it only
// stores to an atomic). Call once from main(). A second SIGINT while already cancelled exits at
// once with status 130, so a stuck operation can always be abandoned.
void InstallInterruptHandler(const CancelToken& token);

// Points the installed handler at `token` and forgets the signals seen so far. An interactive
// front end gives each step its own token: Ctrl-C cancels that step, and only a second Ctrl-C
// during the same step exits at once. Call from the thread that installed the handler.
void RetargetInterruptHandler(const CancelToken& token);

// True once InstallInterruptHandler's handler has seen a signal.
bool InterruptReceived();

// True once the handler has seen SIGTERM: unlike Ctrl-C, which an interactive front end turns
// into "stop this step", a termination request means "stop the process" — RetargetInterruptHandler
// does not forget it.
bool TerminationRequested();

}  // namespace dsagent
