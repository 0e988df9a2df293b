// The permission step of the agent loop for one tool call: ask the policy, ask the user when the
// policy says so (through the ApprovalHandler, if there is one), and turn the outcome into either
// the call to run or the refusal the model reads. The loop writes `events` to the trace.
#pragma once

#include <string>
#include <vector>

#include "agent/core/approval.h"
#include "agent/providers/message.h"
#include "common/json.h"
#include "tools/permissions/permission_policy.h"

namespace dsagent {

struct GateResult {
  bool run = true;      // false: not run; the tool result is `refusal` (an error)
  ToolCall call;        // what to run: the model's call, or with the user's edited command
  std::string note;     // goes before the tool's output (e.g. that the user edited the command)
  std::string refusal;  // for the model, when not run: why, and what it can do instead
  std::vector<Json> events;  // "permission" trace events, without "type" and "step"
};

// `approver` may be null (headless): then a call that needs approval is refused with a message
// naming the mode. An "always" answer adds a session grant to `policy` and, when the user asks
// for it, saves an allow rule to <workspace>/.dsagent/config.yaml (a failure to save is recorded
// in the events; the call still runs). Blocks while the user decides.
GateResult GateToolCall(const ToolCall& call, PermissionPolicy& policy, ApprovalHandler* approver);

}  // namespace dsagent
