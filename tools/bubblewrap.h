// bubblewrap (`bwrap`) as a sandbox backend for shell commands (see tools/sandbox.h): finding it,
// checking that it works here, and the command line that confines one command.
#pragma once

#include <string>
#include <vector>

#include "tools/sandbox.h"

namespace dsagent {

// Looks for `bwrap` on $PATH and runs two trial sandboxes (plain, and with --unshare-net), each
// limited to a few seconds. Never throws. Runs processes: cache the result (ProbeSandbox does).
BubblewrapSupport ProbeBubblewrap();

// The argument vector that runs a command confined by `policy` under `bwrap_path`: "/" read-only,
// a private /dev, /proc and PID namespace, policy.writable and policy.temp_dir bound read-write
// (each must exist: PreparedSandbox::Prepare checks), --unshare-net when policy.deny_network,
// dying with its parent. Ends with "--": append the command.
std::vector<std::string> BubblewrapArgv(const SandboxPolicy& policy, const std::string& bwrap_path);

}  // namespace dsagent
