// `dsagent doctor`: what this machine gives dsagent — sandbox support, API key, directories.
#pragma once

#include <CLI/CLI.hpp>

#include "agent/cli/command_table.h"

namespace dsagent {

// Declares `doctor` on `app` and binds DoctorCommand to it.
void AddDoctorCommand(CLI::App& app, CommandTable& table);

// Prints the report on stdout; returns the exit code.
int DoctorCommand(const CancelToken& cancel);

}  // namespace dsagent
