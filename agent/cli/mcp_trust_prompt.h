// The interactive assistant's question before it starts an MCP server that the repository's
// .dsagent/config.yaml defines (agent/core/mcp_trust.h): what the server would run (command and
// arguments or URL; the names of its env variables and headers, never their values) and a y/n
// answer that dsagent remembers for this repository and definition.
#pragma once

#include "agent/config/mcp_servers_config.h"
#include "agent/ui/line_reader.h"
#include "agent/ui/screen.h"

namespace dsagent {

// True when the person answers yes. End of input or Ctrl-C answers no.
bool AskMcpServerTrust(Screen& screen, LineReader& reader, const McpServerConfig& server);

}  // namespace dsagent
