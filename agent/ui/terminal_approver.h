// TerminalApprover: the interactive assistant's ApprovalHandler (agent/core/approval.h). It shows
// what the tool call would do — its one-line summary, why it needs approval, an edit's diff — and
// reads the answer at a prompt:
//   y  yes, this once          a  always: allow the suggested pattern for the rest of the session
//   n  no (then an optional    s  always, and save the rule to the repository config
//      note for the model)     e  edit the shell command, then run the edited one (bash only)
// Ctrl-C or end of input at the prompt answers no and cancels the running step. Runs on the agent
// loop's thread, which is the thread that owns the terminal.
#pragma once

#include <functional>
#include <string>

#include "agent/core/approval.h"
#include "agent/ui/line_reader.h"
#include "agent/ui/screen.h"
#include "common/cancel.h"

namespace dsagent {

class TerminalApprover : public ApprovalHandler {
 public:
  TerminalApprover(Screen& screen, LineReader& reader) : screen_(screen), reader_(reader) {}

  // The token of the step now running: Ctrl-C at the prompt cancels it, and a step cancelled
  // while the prompt was up (e.g. its time limit) gets "no" whatever was typed.
  void set_cancel(CancelToken token) { cancel_ = std::move(token); }

  // Called with the call's id after its diff was shown at the prompt (the renderer then need not
  // show the same diff again under the result).
  void set_on_diff_shown(std::function<void(const std::string& call_id)> f) {
    on_diff_shown_ = std::move(f);
  }

  ApprovalReply Ask(const ApprovalRequest& request) override;

 private:
  Screen& screen_;
  LineReader& reader_;
  CancelToken cancel_;
  std::function<void(const std::string&)> on_diff_shown_;
};

}  // namespace dsagent
