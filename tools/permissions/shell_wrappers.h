// Commands that run other commands: `env rm x` runs rm, `xargs rm` runs rm on its input,
// `find . -exec rm {} ;` runs rm, `bash -c "rm x"` runs a whole script. The permission check must
// see through them, or "deny bash(rm *)" would be bypassed by `env rm -rf /`. Used by
// shell_syntax; pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/permissions/shell_syntax.h"

namespace dsagent {

struct WrappedCommands {
  bool is_wrapper = false;  // words[0] is a command that runs other commands
  // True for pure pass-through wrappers (env, nohup, nice, timeout, time, command, builtin, exec,
  // stdbuf, ionice, setsid, `bash -c`): only what they run needs permission. False for sudo,
  // doas, su, xargs and find, which are checked themselves as well.
  bool transparent = false;
  std::vector<std::vector<ShellWord>> commands;  // the commands it runs (possibly none)
  std::vector<ShellWord> scripts;                // shell scripts it runs (`bash -c SCRIPT`)
  std::vector<std::string> assignments;          // NAME=VALUE given to `env`
  std::string doubt;  // why what it runs cannot be known ("" when it can)
};

// What `words` (a simple command, name first) runs through a wrapper; is_wrapper=false for an
// ordinary command.
WrappedCommands UnwrapCommand(const std::vector<ShellWord>& words);

// True for variables that change which program runs or what it loads (PATH, LD_PRELOAD, BASH_ENV,
// GIT_SSH_COMMAND, PYTHONPATH, ...): setting one makes a command's text say nothing about what it
// does.
bool IsSensitiveVariable(std::string_view name);

// The file name of a command word ("/usr/bin/env" -> "env").
std::string_view CommandBaseName(std::string_view word);

}  // namespace dsagent
