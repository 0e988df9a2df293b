// `dsagent map`: prints the repository map (tools/repomap) of a workspace on stdout; statistics
// and skipped files go to stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "agent/cli/command_table.h"
#include "common/cancel.h"

namespace dsagent {

struct MapCommandOptions {
  std::string repo;   // workspace; empty: the current directory
  size_t tokens = 0;  // 0: kDefaultRepoMapTokens
  std::vector<std::string> focus;
  std::vector<std::string> symbols;
  bool stats = false;  // also print timing and cache statistics on stderr
};

// Declares the subcommand and its flags on `app` and binds MapCommand to it.
void AddMapCommand(CLI::App& app, CommandTable& table);
// Runs it. Returns 0 on success (even when the map is empty), 2 for a bad workspace or a focus
// path outside it, 130 when interrupted.
int MapCommand(const MapCommandOptions& options, const CancelToken& cancel);

}  // namespace dsagent
