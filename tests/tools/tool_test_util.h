// Test helpers for tools/: a ToolContext rooted in a temporary workspace (a TempDir from
// tests/support/temp_dir.h) and a git CLI runner isolated from the user's configuration.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/support/command_output.h"
#include "tests/support/temp_dir.h"
#include "tools/tool.h"

namespace dsagent::testing {

// A ToolContext whose workspace is `workspace` and every other field is its default.
inline ToolContext ContextIn(const TempDir& workspace) {
  ToolContext ctx;
  ctx.workspace = workspace.path();
  return ctx;
}

// Runs `git <args>` in `dir` with a fixed identity and no user/system config. Returns the exit
// status.
inline int Git(const TempDir& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir.path().string() +
                          "' && GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 "
                          "git -c user.name='Test Author' -c user.email=test@example.com "
                          "-c init.defaultBranch=main " +
                          args + " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

// Output of `git <args>` in `dir` (stdout only), for comparing with what the tools report.
inline std::string GitOutput(const TempDir& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir.path().string() +
                          "' && GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git " + args;
  return CommandOutput(cmd);
}

}  // namespace dsagent::testing
