// `dsagent run`: the headless agent, one task, one JSON envelope (or a stream of JSON events),
// meaningful exit codes.
// The contract (flags, envelope fields, exit codes) is documented in README.md and kept stable.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/cli/command_table.h"
#include "agent/cli/output_format.h"
#include "common/cancel.h"

namespace dsagent {

struct RunOptions {
  std::string task;        // "-" reads stdin; may be empty only with `resume`
  std::string repo;        // workspace; default: current directory (or the resumed session's repo)
  std::string resume;      // session id to continue
  std::string trace_file;  // explicit trace path instead of the sessions directory
  OutputFormat output_format = OutputFormat::kText;  // what stdout holds
  bool verbose = false;                              // stream reasoning to stderr too
  // Shell commands run unconfined. Without it they are sandboxed (writes only to the workspace,
  // its git dir and a private TMPDIR; the network as sandbox.deny_network says), and the run
  // refuses to start where no sandbox backend works.
  bool no_sandbox = false;
  // Command-line config overrides as (dotted key, value): provider, model, thinking, ...
  std::vector<std::pair<std::string, std::string>> flags;
};

// Declares `run` and its flags on `app` and binds RunCommand to it.
void AddRunCommand(CLI::App& app, CommandTable& table);

// Runs the agent and returns the process exit code. Never throws.
int RunCommand(const RunOptions& options, const CancelToken& cancel);

}  // namespace dsagent
