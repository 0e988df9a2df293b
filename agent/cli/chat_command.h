// `dsagent chat` (also what `dsagent` alone runs): the interactive assistant (chat_app.h).
#pragma once

#include <CLI/CLI.hpp>

#include "agent/cli/chat_app.h"
#include "agent/cli/command_table.h"

namespace dsagent {

// Declares `chat` and its flags on `app`, binds ChatCommand to it and makes it the default.
void AddChatCommand(CLI::App& app, CommandTable& table);

// Runs the assistant until the user leaves; returns the process exit code (0, or the open
// failure's code, e.g. 3 for a missing API key). Expects the interrupt handler installed
// (CommandTable does it); each turn points it at the turn's own token.
int ChatCommand(const ChatOptions& options);

}  // namespace dsagent
