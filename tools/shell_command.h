// Running one shell command under control: its own process group, merged output read while it
// runs, a timeout and cooperative cancellation that stop every process it started, and bounded
// memory for its output. The engine behind the bash tool; usable by anything else that must run a
// command without risking a hang (e.g. evaluation test runs).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "tools/env_policy.h"
#include "tools/sandbox.h"

namespace dsagent {

struct ShellOptions {
  std::filesystem::path cwd;  // working directory of the command
  std::chrono::milliseconds timeout{120000};
  size_t output_cap_bytes = 30000;  // head + tail kept (see HeadTailBuffer)
  CancelToken cancel;               // checked about every 50 ms
  // Applied in the child before exec when set (see tools/sandbox.h); must outlive the call.
  const PreparedSandbox* sandbox = nullptr;
  // The command's whole environment (see tools/env_policy.h); unset: this process's environment
  // under the default policy (DefaultChildEnvironment: no secret-looking variables).
  std::optional<EnvMap> environment;
  // Variables set on top of `environment` (e.g. a sandbox's TMPDIR).
  std::vector<std::pair<std::string, std::string>> extra_env;
};

struct ShellOutcome {
  std::string output;       // stdout and stderr interleaved, capped, valid UTF-8
  size_t output_bytes = 0;  // total produced, before capping
  int exit_code = 0;        // the shell's status; 128 + N when killed by signal N
  bool timed_out = false;
  bool interrupted = false;  // ctx.cancel fired
  // The shell exited but processes it started in the background still held its output open;
  // they were stopped so that the call returns.
  bool stopped_background = false;
};

// Runs `/bin/bash -c command` in options.cwd with stdin from /dev/null and stdout+stderr merged
// into one pipe, in a new process group. On timeout or cancellation the whole group gets SIGTERM,
// then SIGKILL after a short grace. Processes left running in the background are kept only if they
// do not hold the output pipe (e.g. `server > log 2>&1 &`). While the command runs, its group dies
// with this process, even on `kill -9` (tools/process_group_guard.h). Blocks until done;
// thread-safe (each call owns its processes). Error: options.cwd is not a directory, or bash could
// not be started (the message names the reason).
Expected<ShellOutcome, std::string> RunShellCommand(const std::string& command,
                                                    const ShellOptions& options);

}  // namespace dsagent
