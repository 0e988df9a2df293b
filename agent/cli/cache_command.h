// `dsagent cache stats|verify|prune`: inspect and maintain the persistent KV prefix store
// (engine/kv/disk_prefix_store.h) under $XDG_CACHE_HOME/dsagent/kv or --kv-dir.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "agent/cli/command_table.h"

namespace dsagent {

struct CacheCommandOptions {
  std::string kv_dir;    // empty: the default directory
  std::string max_size;  // prune: budget in bytes, K/M/G/T suffixes (1024-based) allowed
  bool json = false;
  bool remove = false;  // verify: also delete bad records
  CLI::App *stats = nullptr, *verify = nullptr, *prune = nullptr;  // set by AddCacheCommand
};

// Declares the subcommand and its flags on `app` and binds CacheCommand to it.
void AddCacheCommand(CLI::App& app, CommandTable& table);
// Runs the parsed subcommand; returns the exit code (verify: 1 when a record is bad).
int CacheCommand(const CacheCommandOptions& options);

}  // namespace dsagent
