// A conservative reading of a bash command string for the permission check: every simple command
// that would run (in lists, pipelines, subshells, `$(...)` and backticks, and the commands that
// wrappers such as `env`, `sudo`, `xargs`, `find -exec` and `bash -c` run), every file a
// redirection would write, and every reason the reading might be incomplete.
//
// It is a hand-written tokenizer and parser for the parts of bash that matter here: quoting
// ('...', "...", $'...', backslashes), expansions ($VAR, ${...}, $((...))), substitutions,
// redirections with file-descriptor numbers, here-documents, comments, reserved words (if, while,
// for, {, }, !, [[ ... ]]). What it does not understand confidently it reports in `doubts` rather
// than guessing: eval, process substitution, case statements, function definitions, unbalanced
// quotes, a command name only known at run time, assignments to PATH/LD_* and the like,
// unterminated here-documents. A caller must never allow a command whose analysis has doubts on
// the strength of its parts alone.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsagent {

struct ShellWord {
  // After quote removal; expansions and substitutions kept as written ("$HOME", "$(date)").
  std::string text;
  std::string raw;  // exactly as written in the command
  // True when `text` is exactly what the shell would use: no expansion, substitution, unquoted
  // glob or brace pattern.
  bool literal = true;
};

struct ShellCommand {
  std::vector<ShellWord> words;          // the command name first; never empty
  std::vector<std::string> assignments;  // NAME=value prefixes, as written
  // The words' texts joined by single spaces: what command rules match against.
  std::string Text() const;
};

struct ShellWrite {
  std::string target;   // quote-removed; a leading "~/" expanded from $HOME when it is set
  bool literal = true;  // false: the target is only known at run time
};

struct ShellAnalysis {
  // Every command that would run, in source order; a wrapper's inner command follows it. Pure
  // pass-through wrappers (env, nohup, nice, timeout, time, command, exec, stdbuf, setsid,
  // ionice, `bash -c`) are replaced by what they run; the others (sudo, doas, su, xargs, find)
  // are listed themselves and are followed by what they run.
  std::vector<ShellCommand> commands;
  std::vector<ShellWrite> writes;  // targets of >, >>, >|, &>, &>>, <>, >&FILE
  // Literal targets of `cd`/`pushd` anywhere in the command: a relative write may resolve
  // against any of them (or the starting directory).
  std::vector<std::string> cd_targets;
  bool cd_unknown = false;  // a cd/pushd/popd to a place only known at run time
  // Why the reading may be incomplete, one short phrase each ("`eval` runs a string as a
  // command"); empty when every part was understood.
  std::vector<std::string> doubts;
};

ShellAnalysis AnalyzeShellCommand(std::string_view command);

}  // namespace dsagent
