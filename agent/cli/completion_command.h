// `dsagent completion bash|zsh|fish`: prints the shell completion script (completion.h) for the
// command line as main() defines it.
#pragma once

#include <CLI/CLI.hpp>

#include "agent/cli/command_table.h"

namespace dsagent {

// Declares `completion SHELL` on `app` and binds printing the script. Add it last: the script is
// generated from `app` when the command runs, so it names every subcommand added before or after.
void AddCompletionCommand(CLI::App& app, CommandTable& table);

}  // namespace dsagent
