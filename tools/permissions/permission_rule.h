// Permission rules: "<allow|ask|deny> <tool>[(<pattern>)]", e.g.
//
//   allow bash(git status *)      a shell command: each simple command of a compound one
//   deny bash(rm *)
//   ask write_file(src/**)        an edit: the path, relative to the workspace
//   allow edit(docs/**)           `edit` names every file-editing tool (write_file, edit_file, ...)
//   deny read_file(.env)          reads can be restricted too
//   ask *                         `*` names every tool; no pattern: every call of the tool
//   allow mcp__fs__read_text_file one tool of an MCP server (tools/mcp/); a `path` argument is
//                                 the subject of a pattern, as for read_file
//   deny mcp__tracker             `mcp__<server>` names every tool of that server
//
// Precedence: the LAST rule that matches a call decides (rules are listed defaults, then the user
// file, then the repository file, each in file order); a call no rule matches gets its mode's
// default (permission_mode.h).
//
// Command patterns (bash) match the command's words after quote removal, joined by single spaces
// ("git commit -m 'a  b'" is matched as "git commit -m a  b"): `*` matches any run of characters
// (spaces and slashes included), `?` one character, `\` makes the next character literal, and a
// pattern ending in " *" also matches the command without arguments ("ls *" matches "ls"). A
// command run by path also matches by its file name: "deny bash(rm *)" covers "/bin/rm -rf x".
// Path patterns are the glob syntax of tools/glob_pattern.h (`*` within one component, `**` any
// number of directories).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"
#include "tools/permissions/verdict.h"

namespace dsagent {

struct PermissionRule {
  Decision decision = Decision::kAllow;
  std::string tool;     // a tool name, "edit" (every file-editing tool) or "*" (every tool)
  std::string pattern;  // "" = every call of the tool
};

// Parses one rule. Error: a one-line message quoting the rule and saying what is wrong.
Expected<PermissionRule, std::string> ParsePermissionRule(std::string_view text);
// The rule as ParsePermissionRule reads it back: "allow bash(git status *)", "deny grep".
std::string FormatPermissionRule(const PermissionRule& rule);

// True when `rule` is about `tool_name` (exact name, "edit" for editing tools, "mcp__<server>"
// for that server's tools, or "*").
bool RuleCoversTool(const PermissionRule& rule, std::string_view tool_name);

// True when the pattern matches the whole command text (syntax above).
bool CommandPatternMatches(std::string_view pattern, std::string_view command_text);
// True when the glob pattern matches the workspace-relative path.
bool PathPatternMatches(std::string_view pattern, std::string_view relative_path);

// Patterns matching exactly `literal` (wildcards escaped).
std::string EscapeCommandPattern(std::string_view literal);
std::string EscapePathPattern(std::string_view literal);

// The last rule in `rules` that covers `tool_name` and whose pattern matches one of `subjects`
// (command texts for bash, relative paths otherwise), or nullptr.
const PermissionRule* LastMatchingRule(const std::vector<PermissionRule>& rules,
                                       std::string_view tool_name,
                                       const std::vector<std::string>& subjects);

}  // namespace dsagent
