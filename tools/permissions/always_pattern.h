// What "always allow" should mean for a call the user approves: a rule pattern general enough to
// stop repeated prompts for the same kind of call, and no more general than the user can judge
// from the prompt. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "tools/permissions/shell_syntax.h"

namespace dsagent {

// A command pattern for `command` (permission_rule.h syntax):
//   "git status --short"   -> "git status *"   (tools with subcommands: name and subcommand)
//   "pytest -x tests/"     -> "pytest *"
//   "rm -rf build"         -> "rm -rf build"   (destructive or networked commands, interpreters,
//   "python3 script.py"    -> "python3 script.py"   and risky git subcommands: the exact command)
// "" when the command name is only known at run time.
std::string SuggestCommandPattern(const ShellCommand& command);

// A path pattern for an edit of `relative_path`: its directory and everything below
// ("src/util/a.cc" -> "src/util/**"), or the file itself at the workspace root ("README.md").
std::string SuggestPathPattern(std::string_view relative_path);

}  // namespace dsagent
