// `dsagent config show`: the merged configuration with each value's source (agent/config).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "agent/cli/command_table.h"

namespace dsagent {

// Declares `config show` on `app` and binds ConfigShowCommand to it.
void AddConfigCommand(CLI::App& app, CommandTable& table);

// Prints the config that applies in `repo` ("" = the current directory), then which environment
// variables shell commands do not get (names only). Returns 0, or 3 for a bad config.
int ConfigShowCommand(const std::string& repo);

}  // namespace dsagent
