// A session's MCP servers: the `mcp_servers:` config (agent/config/mcp_servers_config.h) turned
// into connectable servers (tools/mcp/mcp_server_set.h), and their tools added to the session's
// registry after the built-in ones. Stdio servers start with the shell tools' scrubbed
// environment (tools.env: secrets withheld) plus their own `env:`, in their `cwd` (relative to
// the workspace), under the shell tools' sandbox unless their config says `sandbox: false`; their
// stderr goes to $XDG_STATE_HOME/dsagent/mcp/<name>.log.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "tools/env_policy.h"
#include "tools/mcp/mcp_server_set.h"
#include "tools/registry.h"

namespace dsagent {

// Where a stdio server's stderr goes.
std::filesystem::path McpServerLogPath(const std::string& server_name);

// The enabled ones of `servers` (from config.McpServers(), usually filtered by
// SelectTrustedMcpServers in mcp_trust.h) ready to connect. `tool_env` is the shell tools'
// environment (ToolEnvironment::child.vars); `process_env` supplies ${VAR} in env values and
// headers. A server that cannot be set up (a ${VAR} that is unset) is left out with a line in
// `problems`.
std::vector<McpServerSpec> McpServerSpecsFromConfig(const Config& config,
                                                    const std::vector<McpServerConfig>& servers,
                                                    const std::filesystem::path& workspace,
                                                    const EnvMap& tool_env,
                                                    const EnvMap& process_env,
                                                    std::vector<std::string>& problems);

// Connects `servers` (see McpServerSpecsFromConfig) and adds their tools to `registry`
// (McpServerSet's fixed order). Returns the set (for /mcp); null when `servers` is empty. A server
// that fails is reported in `warnings` ("MCP server 'x' is not available: ...") and offers no
// tools.
std::shared_ptr<McpServerSet> AddMcpTools(const Config& config,
                                          const std::vector<McpServerConfig>& servers,
                                          const std::filesystem::path& workspace,
                                          const EnvMap& tool_env, ToolRegistry& registry,
                                          std::vector<std::string>& warnings,
                                          const CancelToken& cancel);

// What changed in the session's MCP tools at a step boundary, applied to the registry.
struct McpToolsUpdate {
  std::vector<std::string> added, changed, removed;  // mcp__server__tool names
  std::string note;  // for the model and the user; "" when nothing changed
};

// Lists again the servers that announced a changed tool list (McpServerSet::Refresh) and applies
// the changes to `registry`, keeping the order it has for the prefix cache: removed tools drop
// out, changed ones are replaced in place, new ones are appended after every other tool. The
// note names each tool that appeared, changed or disappeared (and a server whose new list could
// not be read).
McpToolsUpdate ApplyMcpToolChanges(McpServerSet& set, ToolRegistry& registry,
                                   const CancelToken& cancel);

// `/mcp` and `dsagent mcp list`: one block per server — name, transport, state (connected with
// the agreed revision and tool count, or the error), and with `with_tools` its tools as the model
// sees them (mcp__server__tool: title or first line of the description); servers whose tool list
// changed and was not listed again yet say that the change applies from the next step.
std::string DescribeMcpServers(const McpServerSet& set, bool with_tools);

}  // namespace dsagent
