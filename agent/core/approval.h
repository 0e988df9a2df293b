// The seam between the agent loop's permission check and whoever answers "may I?": the
// interactive terminal asks the user; headless runs have no approver, so a call that would need
// approval is refused with a message the model can act on.
//
// Flow per tool call (GateToolCall, permission_gate.h): AgentLoop asks the session's
// PermissionPolicy (tools/permissions, AgentSettings::permissions) for a verdict (allow / ask /
// deny, with a reason and a suggested "always" pattern). allow runs the call, deny answers the
// model with the reason, ask goes to AgentSettings::approver->Ask when there is one (else it is a
// deny that names the mode). kEdit runs the edited shell command instead of the model's; the tool
// result tells the model its command was edited. kAlways adds a session grant
// (PermissionPolicy::AllowForSession, or AllowCallForSession when always_pattern is empty) and,
// with `persist`, appends "allow TOOL(PATTERN)" to the repo's .dsagent/config.yaml (only when
// there is a pattern). Every ask/deny verdict and every answer is a "permission" trace event.
#pragma once

#include <string>

#include "agent/providers/message.h"

namespace dsagent {

struct ApprovalRequest {
  ToolCall call;        // as the model sent it
  std::string summary;  // one line for the user: "bash: rm -rf build" / "write_file: src/a.cc"
  std::string reason;   // why it needs approval: "shell commands ask in mode auto-edit"
  // What "always" would allow from now on, as a rule pattern for this tool, e.g. "git status*"
  // or "src/**"; empty when no pattern can safely generalise (then "always" means this exact call).
  std::string always_pattern;
  std::string diff;  // for edits: the unified diff the call would apply ("" if not an edit)
};

enum class ApprovalChoice {
  kYes,     // run this call once
  kNo,      // refuse; `feedback` (optional) goes to the model with the refusal
  kAlways,  // run, and allow `always_pattern` for this tool for the rest of the session
  kEdit,    // run `edited_command` instead (bash only)
};

struct ApprovalReply {
  ApprovalChoice choice = ApprovalChoice::kNo;
  std::string feedback;        // kNo: what the user said instead
  std::string edited_command;  // kEdit
  bool persist = false;  // kAlways: also save the rule to the repo config (.dsagent/config.yaml)
};

class ApprovalHandler {
 public:
  virtual ~ApprovalHandler() = default;
  // Called on the agent loop's thread; blocks until the user answers. Must return kNo when the
  // run is cancelled while waiting.
  virtual ApprovalReply Ask(const ApprovalRequest& request) = 0;
};

}  // namespace dsagent
