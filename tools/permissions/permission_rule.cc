#include "tools/permissions/permission_rule.h"

#include "tools/glob_pattern.h"
#include "tools/permissions/permission_mode.h"

namespace dsagent {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsToolNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// Pattern syntax without the " *" suffix rule: `*`, `?`, `\x`. Iterative with one backtrack point
// for the last `*` (linear-ish; no exponential blow-up on many stars).
bool WildcardMatches(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0;
  size_t star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star_p = ++pi;
      star_s = si;
      continue;
    }
    if (pi < p.size()) {
      if (p[pi] == '?') {
        ++pi, ++si;
        continue;
      }
      const bool escaped = p[pi] == '\\' && pi + 1 < p.size();
      const char want = escaped ? p[pi + 1] : p[pi];
      if (want == s[si]) {
        pi += escaped ? 2 : 1;
        ++si;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// Runs of blanks in a pattern count as one space, like the command text they are matched with.
std::string CollapseBlanks(std::string_view p) {
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      out += p[i];
      out += p[++i];
      continue;
    }
    const bool blank = p[i] == ' ' || p[i] == '\t';
    if (blank) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += p[i];
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

Expected<PermissionRule, std::string> ParsePermissionRule(std::string_view text) {
  const std::string quoted = "permission rule \"" + std::string(text) + "\"";
  std::string_view rest = Trim(text);
  const size_t space = rest.find_first_of(" \t");
  PermissionRule rule;
  const auto decision = ParseDecision(rest.substr(0, space));
  if (!decision || space == std::string_view::npos) {
    return MakeUnexpected(quoted +
                          ": expected \"allow|ask|deny TOOL\" or \"allow|ask|deny "
                          "TOOL(PATTERN)\", e.g. \"allow bash(git status *)\"");
  }
  rule.decision = *decision;
  rest = Trim(rest.substr(space));
  size_t i = 0;
  while (i < rest.size() && (IsToolNameChar(rest[i]) || rest[i] == '*')) ++i;
  rule.tool = std::string(rest.substr(0, i));
  if (rule.tool.empty() || (rule.tool.find('*') != std::string::npos && rule.tool != "*")) {
    return MakeUnexpected(quoted + ": the tool must be a tool name, \"edit\" or \"*\"");
  }
  rest = Trim(rest.substr(i));
  if (rest.empty()) return rule;
  if (rest.front() != '(' || rest.back() != ')') {
    return MakeUnexpected(quoted + ": the pattern goes in parentheses right after the tool, " +
                          "e.g. \"" + DecisionName(rule.decision) + " " + rule.tool +
                          "(PATTERN)\"");
  }
  rule.pattern = std::string(Trim(rest.substr(1, rest.size() - 2)));
  if (rule.pattern == "*" || rule.pattern == "**") rule.pattern.clear();  // every call
  return rule;
}

std::string FormatPermissionRule(const PermissionRule& rule) {
  std::string out = DecisionName(rule.decision) + " " + rule.tool;
  if (!rule.pattern.empty()) out += "(" + rule.pattern + ")";
  return out;
}

bool RuleCoversTool(const PermissionRule& rule, std::string_view tool_name) {
  if (rule.tool == "*" || rule.tool == tool_name) return true;
  // "mcp__<server>" names every tool of that MCP server (mcp__<server>__<tool>).
  if (rule.tool.rfind("mcp__", 0) == 0 && rule.tool.find("__", 5) == std::string::npos &&
      tool_name.size() > rule.tool.size() + 2 && tool_name.substr(0, rule.tool.size()) == rule.tool &&
      tool_name.substr(rule.tool.size(), 2) == "__") {
    return true;
  }
  return rule.tool == "edit" && ClassifyTool(tool_name) == ToolClass::kEdit;
}

bool CommandPatternMatches(std::string_view pattern, std::string_view command_text) {
  const std::string p = CollapseBlanks(pattern);
  if (WildcardMatches(p, command_text)) return true;
  // "ls *" also means "ls" alone (an escaped "\*" is a literal star, not this suffix).
  if (p.size() >= 2 && p.compare(p.size() - 2, 2, " *") == 0 &&
      (p.size() < 3 || p[p.size() - 3] != '\\')) {
    return WildcardMatches(std::string_view(p).substr(0, p.size() - 2), command_text);
  }
  return false;
}

bool PathPatternMatches(std::string_view pattern, std::string_view relative_path) {
  return GlobPattern(pattern).Matches(relative_path);
}

std::string EscapeCommandPattern(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (c == '*' || c == '?' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string EscapePathPattern(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (c == '*' || c == '?' || c == '[') {
      out += '[';
      out += c;
      out += ']';
    } else {
      out += c;
    }
  }
  return out;
}

const PermissionRule* LastMatchingRule(const std::vector<PermissionRule>& rules,
                                       std::string_view tool_name,
                                       const std::vector<std::string>& subjects) {
  const bool command = ClassifyTool(tool_name) == ToolClass::kShell;
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    if (!RuleCoversTool(*it, tool_name)) continue;
    if (it->pattern.empty()) return &*it;
    for (const std::string& subject : subjects) {
      if (command ? CommandPatternMatches(it->pattern, subject)
                  : PathPatternMatches(it->pattern, subject)) {
        return &*it;
      }
    }
  }
  return nullptr;
}

}  // namespace dsagent
