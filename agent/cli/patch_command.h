// `dsagent patch`: the headless CI patch bot (see agent/patch/ and docs/ci.md).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "agent/cli/command_table.h"
#include "agent/cli/output_format.h"
#include "common/cancel.h"

namespace dsagent {

struct PatchCommandOptions {
  std::string repo, issue_file, github_event, branch, patch_out, report, test_cmd, policy;
  bool commit = false, verbose = false, allow_network = false, no_sandbox = false,
       keep_worktree = false, trust_repo_mcp = false;
  OutputFormat output_format = OutputFormat::kText;  // text: the report; json; stream-json
  double max_cost = 0;
  int timeout_s = 0;
};

// Declares the subcommand and its flags on `app` and binds PatchCommand to it.
void AddPatchCommand(CLI::App& app, CommandTable& table);
// Runs it; returns the exit code.
int PatchCommand(const PatchCommandOptions& options, const CancelToken& cancel);

}  // namespace dsagent
