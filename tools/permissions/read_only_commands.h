// Commands that only read: with no rule about them, they run without asking in the modes where
// shell commands ask (ask, auto-edit), as in Codex. One table (read_only_commands.cc) lists them
// with the arguments that would make them write or run something else (`find -exec`, `sort -o`,
// `git diff --output`, `rg --pre`); a command using any of those is not read-only.
//
// This judges one simple command. The caller (shell_verdict.h) allows a command line only when
// every simple command in it is read-only (pipes, lists, `$(...)` and backticks included), it has
// no redirection that writes a file, and the analysis has no doubts.
//
// Pure functions; thread-safe.
#pragma once

#include "tools/permissions/shell_syntax.h"

namespace dsagent {

// True when `command` is in the table, is named literally and without a path (`./ls` could be
// anything), has no NAME=value prefix (`GIT_EXTERNAL_DIFF=x git diff` runs x), and uses none of
// the arguments its table entry refuses.
bool IsReadOnlyCommand(const ShellCommand& command);

}  // namespace dsagent
