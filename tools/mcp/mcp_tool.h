// McpTool: one tool of an MCP server behind dsagent's Tool interface, named
// mcp__<server>__<tool> for the model. Run() is a tools/call with the server's per-call timeout;
// the step's CancelToken cancels the call (the server is told with notifications/cancelled).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "tools/mcp/mcp_client.h"
#include "tools/tool.h"

namespace dsagent {

// "mcp__" + server + "__" + tool, each character outside [A-Za-z0-9_-] replaced by '_' (model
// APIs accept only those in function names), cut to 64 bytes (their length limit).
std::string McpToolName(const std::string& server, const std::string& tool);

class McpTool final : public Tool {
 public:
  McpTool(std::shared_ptr<McpClient> client, std::string server, McpToolInfo info,
          std::chrono::milliseconds timeout);

  std::string Name() const override { return name_; }
  Json Schema() const override { return info_.input_schema; }
  // What the model is told: the server's description (its title first when it has one).
  std::string Description() const;
  // Never throws. Errors (the server's isError, a JSON-RPC error, a timeout, an interrupted
  // step, a lost connection) come back as a failed result naming the server.
  ToolResult Run(const Json& args, const ToolContext& ctx) override;

 private:
  std::shared_ptr<McpClient> client_;
  std::string server_;
  McpToolInfo info_;
  std::chrono::milliseconds timeout_;
  std::string name_;
};

}  // namespace dsagent
