#include "agent/core/permission_gate.h"

#include "agent/core/permission_setup.h"
#include "common/name_table.h"
#include "tools/permissions/edit_preview.h"

namespace dsagent {
namespace {

// The user's answer as the trace records it.
constexpr EnumName<ApprovalChoice> kAnswerNames[] = {{ApprovalChoice::kYes, "yes"},
                                                     {ApprovalChoice::kAlways, "always"},
                                                     {ApprovalChoice::kEdit, "edit"},
                                                     {ApprovalChoice::kNo, "no"}};

std::string AnswerName(ApprovalChoice choice) { return std::string(NameOf(kAnswerNames, choice)); }

// "bash: make test" / "write_file: src/a.cc" / "web_fetch: {...}".
std::string Summary(const ToolCall& call) {
  const Json args = Json::parse(call.arguments, nullptr, false);
  for (const char* key : {"command", "path"}) {
    if (args.is_object() && args.contains(key) && args[key].is_string()) {
      return call.name + ": " + args[key].get<std::string>();
    }
  }
  constexpr size_t kMax = 200;
  return call.name + ": " +
         (call.arguments.size() > kMax ? call.arguments.substr(0, kMax) + "..." : call.arguments);
}

// The call with its "command" argument replaced.
ToolCall WithCommand(const ToolCall& call, const std::string& command) {
  Json args = Json::parse(call.arguments, nullptr, false);
  if (!args.is_object()) args = Json::object();
  args["command"] = command;
  ToolCall edited = call;
  edited.arguments = CanonicalJson(args);
  return edited;
}

// Why a headless run does not run a call that needs approval, and the rule that would allow it.
std::string HeadlessRefusal(const ToolCall& call, const Verdict& verdict, const std::string& mode) {
  return "Not run: this call needs approval, and this run is headless (permissions mode " + mode +
         "): " + verdict.reason +
         ". Find another way to do it, or leave it to the user, who can allow it with a "
         "permissions.rules entry in .dsagent/config.yaml" +
         (verdict.always_pattern.empty()
              ? std::string(".")
              : " such as \"allow " + call.name + "(" + verdict.always_pattern + ")\".");
}

// Applies the user's answer to `out` (run it, refuse it, run an edited command, grant for the
// session and maybe save the rule) and returns the trace event that records the answer.
Json ApplyApprovalReply(const ApprovalReply& reply, const ToolCall& call, const Verdict& verdict,
                        PermissionPolicy& policy, GateResult& out) {
  Json answer = {
      {"tool_call_id", call.id}, {"name", call.name}, {"answer", AnswerName(reply.choice)}};
  switch (reply.choice) {
    case ApprovalChoice::kNo:
      out.refusal = "The user declined this call; it was not run.";
      if (!reply.feedback.empty()) {
        out.refusal += " The user said: " + reply.feedback;
        answer["feedback"] = reply.feedback;
      }
      break;
    case ApprovalChoice::kEdit:
      if (call.name != "bash" || reply.edited_command.empty()) {
        answer["answer"] = "no";
        out.refusal = "The user declined this call; it was not run.";
        break;
      }
      out.run = true;
      out.call = WithCommand(call, reply.edited_command);
      out.note =
          "[The user edited the command before it ran. It ran as: " + reply.edited_command + "]\n";
      answer["edited_command"] = reply.edited_command;
      break;
    case ApprovalChoice::kAlways:
      out.run = true;
      if (verdict.always_pattern.empty()) {
        policy.AllowCallForSession(call.name, call.arguments);
      } else {
        policy.AllowForSession(call.name, verdict.always_pattern);
        answer["pattern"] = verdict.always_pattern;
      }
      if (reply.persist) {
        auto saved = PersistAllowRule(policy.workspace(), call.name, verdict.always_pattern);
        answer["persisted"] = static_cast<bool>(saved);
        if (!saved) answer["persist_error"] = saved.error();
      }
      break;
    case ApprovalChoice::kYes:
      out.run = true;
      break;
  }
  return answer;
}

}  // namespace

GateResult GateToolCall(const ToolCall& call, PermissionPolicy& policy, ApprovalHandler* approver) {
  GateResult out;
  out.call = call;
  const Verdict verdict = policy.Check(call.name, call.arguments);
  if (verdict.decision == Decision::kAllow) return out;

  const std::string mode = PermissionModeName(policy.mode());
  out.events.push_back({{"tool_call_id", call.id},
                        {"name", call.name},
                        {"decision", DecisionName(verdict.decision)},
                        {"reason", verdict.reason},
                        {"mode", mode},
                        {"always_pattern", verdict.always_pattern},
                        {"headless", approver == nullptr}});
  out.run = false;
  if (verdict.decision == Decision::kDeny) {
    out.refusal = "Permission denied: " + verdict.reason + ". The call was not run.";
    return out;
  }
  if (approver == nullptr) {
    out.refusal = HeadlessRefusal(call, verdict, mode);
    return out;
  }
  ApprovalRequest request{call, Summary(call), verdict.reason, verdict.always_pattern,
                          PreviewEditDiff(call.name, call.arguments, policy.workspace())};
  out.events.push_back(ApplyApprovalReply(approver->Ask(request), call, verdict, policy, out));
  return out;
}

}  // namespace dsagent
