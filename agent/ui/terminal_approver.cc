#include "agent/ui/terminal_approver.h"

#include <algorithm>
#include <cctype>

#include "agent/ui/diff_view.h"
#include "common/json.h"

namespace dsagent {
namespace {

std::string Trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string ShellCommand(const ToolCall& call) {
  try {
    const Json args = Json::parse(call.arguments);
    if (args.is_object() && args.contains("command") && args["command"].is_string()) {
      return args["command"].get<std::string>();
    }
  } catch (const Json::exception&) {
  }
  return "";
}

ApprovalReply No(std::string feedback = "") {
  ApprovalReply r;
  r.choice = ApprovalChoice::kNo;
  r.feedback = std::move(feedback);
  return r;
}

}  // namespace

ApprovalReply TerminalApprover::Ask(const ApprovalRequest& request) {
  const bool can_edit = request.call.name == "bash";
  const std::string always = request.always_pattern.empty()
                                 ? "always (this exact call)"
                                 : "always \"" + request.always_pattern + "\"";
  screen_.EndLine();
  screen_.Line(screen_.Paint(Style::kYellow, "? approve ") +
               screen_.Paint(Style::kBold, FitWidth(request.summary, screen_.width())));
  if (!request.reason.empty()) {
    screen_.Line(screen_.Paint(Style::kDim, FitWidth("  " + request.reason, screen_.width())));
  }
  if (!request.diff.empty()) {
    ShowDiff(screen_, request.diff, 40, "    ");
    if (on_diff_shown_) on_diff_shown_(request.call.id);
  }
  screen_.Line(screen_.Paint(Style::kDim, "  y yes · n no · a " + always + " · s " + always +
                                              " + save to .dsagent/config.yaml" +
                                              (can_edit ? " · e edit" : "")));
  screen_.Flush();

  const std::string prompt = screen_.Paint(Style::kYellow, "allow?") + " ";
  while (true) {
    const InputEvent in = reader_.ReadLine(prompt);
    if (in.kind != InputEvent::Kind::kLine) {
      cancel_.Cancel();
      return No();
    }
    if (cancel_.IsCancelled()) return No();
    const std::string answer = Lower(Trimmed(in.text));
    ApprovalReply reply;
    if (answer == "y" || answer == "yes") {
      reply.choice = ApprovalChoice::kYes;
      return reply;
    }
    if (answer == "a" || answer == "always") {
      reply.choice = ApprovalChoice::kAlways;
      return reply;
    }
    if (answer == "s" || answer == "save") {
      reply.choice = ApprovalChoice::kAlways;
      reply.persist = true;
      return reply;
    }
    if (answer == "n" || answer == "no") {
      const InputEvent note =
          reader_.ReadLine(screen_.Paint(Style::kDim, "note for the model (Enter to skip):") + " ");
      if (note.kind == InputEvent::Kind::kInterrupt) cancel_.Cancel();
      return No(note.kind == InputEvent::Kind::kLine ? Trimmed(note.text) : "");
    }
    if (can_edit && (answer == "e" || answer == "edit")) {
      const InputEvent edited = reader_.ReadLine(screen_.Paint(Style::kDim, "command:") + " ",
                                                 ShellCommand(request.call));
      if (edited.kind != InputEvent::Kind::kLine) {
        if (edited.kind == InputEvent::Kind::kInterrupt) cancel_.Cancel();
        return No();
      }
      if (Trimmed(edited.text).empty()) continue;
      reply.choice = ApprovalChoice::kEdit;
      reply.edited_command = edited.text;
      return reply;
    }
    screen_.Line(screen_.Paint(Style::kDim, std::string("  answer y, n, a, s") +
                                                (can_edit ? " or e" : "") + " (Ctrl-C: no)"));
  }
}

}  // namespace dsagent
