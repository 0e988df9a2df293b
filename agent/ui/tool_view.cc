#include "agent/ui/tool_view.h"

#include "agent/ui/diff_view.h"
#include "agent/ui/fold.h"
#include "common/json.h"
#include "tools/tool_util.h"

namespace dsagent {
namespace {

Json ParseArgs(const std::string& arguments) {
  try {
    Json j = Json::parse(arguments);
    return j.is_object() ? j : Json::object();
  } catch (const Json::exception&) {
    return Json::object();
  }
}

std::string OneLine(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "⏎";
    } else {
      out.push_back(c == '\t' || c == '\r' ? ' ' : c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string Plural(size_t n, const char* one) {
  return std::to_string(n) + " " + one + (n == 1 ? "" : "s");
}

// The text before the last line when it is the bash tool's "[exit code: N]" note.
std::string WithoutExitNote(const std::string& output) {
  const size_t at = output.rfind("[exit code: ");
  if (at == std::string::npos || (at > 0 && output[at - 1] != '\n')) return output;
  return output.substr(0, at);
}

}  // namespace

std::string ToolKeyArgument(const ToolCall& call) {
  const Json args = ParseArgs(call.arguments);
  const std::string& name = call.name;
  if (name == "bash") return OneLine(StringField(args, "command"));
  if (name == "read_file") {
    std::string s = StringField(args, "path");
    const bool from = args.contains("start_line") && args["start_line"].is_number_integer();
    const bool to = args.contains("end_line") && args["end_line"].is_number_integer();
    if (from || to) {
      s += ":" + (from ? std::to_string(args["start_line"].get<int64_t>()) : std::string("1")) +
           "-" + (to ? std::to_string(args["end_line"].get<int64_t>()) : std::string(""));
    }
    return s;
  }
  if (name == "grep" || name == "glob") {
    std::string s = "'" + OneLine(StringField(args, "pattern")) + "'";
    if (const std::string p = StringField(args, "path"); !p.empty()) s += " in " + p;
    if (const std::string g = StringField(args, "glob"); !g.empty()) s += " (" + g + ")";
    return s;
  }
  for (const char* key : {"path", "command", "pattern", "focus"}) {
    if (std::string v = StringField(args, key); !v.empty()) return OneLine(v);
  }
  for (const auto& [k, v] : args.items()) {
    if (v.is_string()) return OneLine(v.get<std::string>());
  }
  return "";
}

std::string ToolResultDiff(const ToolResult& result) { return StringField(result.details, "diff"); }

std::string ToolResultSummary(const ToolCall& call, const ToolResult& result) {
  const Json& d = result.details;
  if (call.name == "bash" && d.contains("exit_code")) {
    std::string s;
    if (d.value("timed_out", false)) {
      s = "timed out";
    } else if (d.value("interrupted", false)) {
      s = "interrupted";
    } else {
      s = "exit " + std::to_string(d.value("exit_code", 0));
    }
    return s + " · " + Plural(CountTextLines(WithoutExitNote(result.output)), "line");
  }
  if (!result.ok) return "error: " + ToolErrorHeadline(result);
  if (const std::string diff = ToolResultDiff(result); !diff.empty()) {
    const DiffCounts c = CountDiffLines(diff);
    std::string s = d.value("created", false) ? "created · " : "";
    return s + "+" + std::to_string(c.added) + " -" + std::to_string(c.removed);
  }
  if (d.contains("path") && d.contains("replacements")) return "unchanged";
  return Plural(CountTextLines(result.output), "line");
}

std::string ToolResultBody(const ToolCall& call, const ToolResult& result) {
  if (call.name == "bash") return WithoutExitNote(result.output);
  if (!result.ok) {
    const size_t nl = result.output.find('\n');
    return nl == std::string::npos ? "" : result.output.substr(nl + 1);
  }
  return "";
}

}  // namespace dsagent
