// The stdio transport of MCP: the server is a child process started by dsagent; messages are
// single-line JSON on its stdin and stdout, and its stderr goes to a log file (never the
// terminal, where it would tear the chat display). The child runs in its own process group with
// the environment and sandbox the caller prepared (the same scrubbed environment and sandbox as
// shell commands unless the server's config says otherwise).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/env_policy.h"
#include "tools/mcp/mcp_transport.h"
#include "tools/sandbox.h"

namespace dsagent {

struct StdioServerOptions {
  std::string command;  // an absolute path, or a name looked up in environment's PATH
  std::vector<std::string> args;
  std::filesystem::path cwd;  // must exist
  EnvMap environment;         // the server's whole environment
  // Appended to (created with its directory when missing); empty: stderr is discarded.
  std::filesystem::path stderr_log;
  // Applied to the server when set (Landlock in the child, or bwrap around the command).
  std::optional<SandboxPolicy> sandbox;
};

class StdioTransport final : public McpTransport {
 public:
  // Starts the server. Error: the command is not found, cwd is not a directory, the log cannot
  // be opened, the sandbox cannot be prepared, or the process cannot be started (one line).
  static Expected<std::unique_ptr<StdioTransport>, std::string> Start(
      const StdioServerOptions& options);
  ~StdioTransport() override;

  Expected<Ok, std::string> Send(const Json& message, McpClock::time_point deadline,
                                 const CancelToken& cancel) override;
  Expected<std::optional<Json>, std::string> Receive(McpClock::time_point deadline,
                                                     const CancelToken& cancel) override;
  // Closes stdin, gives the server a moment to exit, then SIGTERM and SIGKILL to its group.
  void Close() override;

  pid_t pid() const { return pid_; }

 private:
  StdioTransport() = default;
  // Why the server is gone: its exit status and where its stderr went.
  std::string ExitDescription();

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int pidfd_ = -1;
  bool reaped_ = false;
  int exit_status_ = 0;
  std::string pending_;  // bytes read past the last complete line
  std::string label_;    // the command, for messages
  std::filesystem::path stderr_log_;
};

}  // namespace dsagent
