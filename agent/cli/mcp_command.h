// `dsagent mcp list|get|add|remove|trust|untrust`: the MCP servers of the layered config
// (mcp_servers:, see agent/config/mcp_servers_config.h). list and get connect to the servers the
// way the interactive assistant would and show their state and tools; a server the repository
// defines is started only when trusted (agent/core/mcp_trust.h) or with --trust-repo-mcp. add and
// remove edit the user config file (--scope user, the default) or the repository's
// .dsagent/config.yaml (--scope repo; a server added there is trusted, the user wrote it). trust
// and untrust record the answer the assistant would otherwise ask for.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "agent/cli/command_table.h"

namespace dsagent {

struct McpCommandOptions {
  std::string repo;            // "" = the current directory
  std::string name;            // get/add/remove
  std::string scope = "user";  // add/remove: user | repo
  std::string url;             // add: an HTTP server
  std::vector<std::string> command;  // add: COMMAND ARGS... (after --)
  std::vector<std::string> env;      // add: NAME=VALUE
  std::vector<std::string> headers;  // add: "Name: value"
  std::string cwd;                   // add
  bool no_sandbox = false;           // add
  bool trust_repo_mcp = false;       // list/get: start untrusted repository servers too
  CLI::App *list = nullptr, *get = nullptr, *add = nullptr, *remove = nullptr, *trust = nullptr,
           *untrust = nullptr;
};

// Declares `mcp` and its subcommands on `app` and binds each in `table`.
void AddMcpCommand(CLI::App& app, CommandTable& table);

}  // namespace dsagent
