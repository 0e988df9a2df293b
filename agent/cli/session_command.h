// `dsagent session list` and `dsagent session show ID`: read-only views of session traces.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "agent/cli/command_table.h"

namespace dsagent {

// Declares `session list|show` on `app` and binds the two commands below.
void AddSessionCommand(CLI::App& app, CommandTable& table);

// Both return the process exit code; output on stdout, errors on stderr.
int SessionListCommand(bool json);
// `routing`: only the routing decisions of the session.
int SessionShowCommand(const std::string& id, bool json, bool routing = false);

}  // namespace dsagent
