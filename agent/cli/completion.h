// Shell completion scripts generated from the CLI11 definitions, so they name exactly the
// subcommands and flags the binary parses: `dsagent completion bash|zsh|fish`.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dsagent {

// The shells a script can be generated for, in the order `completion` lists them.
const std::vector<std::string>& CompletionShells();

// The completion script for `shell` ("bash", "zsh", "fish") of `program`, whose command line `app`
// defines (its subcommands, nested, and their options; option groups count as their command's).
// Completes subcommands, flags, the choices of an option checked with CLI::IsMember, and files
// for other option values. nullopt for an unknown shell.
std::optional<std::string> CompletionScript(CLI::App& app, const std::string& program,
                                            const std::string& shell);

}  // namespace dsagent
