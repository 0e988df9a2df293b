// McpServerSet: the MCP servers of one session — connected once at the start (all in parallel),
// their tools listed once and offered for the whole session in a fixed order (servers by name,
// each server's tools by name), so the tool schemas in every request stay byte-identical. A
// server whose list changes mid-session (notifications/tools/list_changed) is listed again by
// Refresh(), which the session calls at the next step boundary; the session keeps the order it
// has (removed tools drop out, changed ones stay in place, new ones are appended). A server that
// fails to start or initialize is reported with its reason and offers no tools; it never stops
// the session.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/mcp/http_transport.h"
#include "tools/mcp/mcp_client.h"
#include "tools/mcp/mcp_tool.h"
#include "tools/mcp/stdio_transport.h"
#include "tools/tool.h"

namespace dsagent {

// One configured server, ready to connect: exactly one of `stdio` and `http` is set.
struct McpServerSpec {
  std::string name;  // [A-Za-z0-9_-]+, without "__" (it separates the parts of tool names)
  std::optional<StdioServerOptions> stdio;
  std::optional<HttpServerOptions> http;
  std::chrono::milliseconds startup_timeout{30000};  // initialize and each tools/list page
  std::chrono::milliseconds tool_timeout{120000};    // each tools/call
};

// "stdio: npx -y pkg" or "http: https://host/mcp": how to reach it, for listings.
std::string DescribeMcpTransport(const McpServerSpec& spec);

struct McpServerState {
  std::string name;
  std::string transport;  // DescribeMcpTransport
  bool connected = false;
  std::string error;  // why not connected; "" when connected
  McpServerInfo info;
  std::vector<McpToolInfo> tools;  // sorted by name
};

// What one server's new tool list changed, by tool name (the server's names), each in name order.
struct McpToolListChange {
  std::string server;
  std::vector<McpToolInfo> added;
  std::vector<McpToolInfo> changed;  // same name, another description, title or schema
  std::vector<std::string> removed;
  std::string error;  // the new list could not be read: nothing else is set
};

class McpServerSet {
 public:
  // Starts and initializes every server and lists its tools, all servers at once; returns when
  // each has succeeded, failed or hit its startup timeout. `client_version` goes into
  // clientInfo. Never fails as a whole.
  static std::unique_ptr<McpServerSet> Connect(const std::vector<McpServerSpec>& specs,
                                               const std::string& client_version,
                                               const CancelToken& cancel);
  ~McpServerSet();

  // The tools of every connected server, in the session's fixed order (see above). Each holds
  // its server's connection; the connections close when the set and all its tools are gone.
  std::vector<std::unique_ptr<McpTool>> MakeTools() const;

  // Every configured server, sorted by name.
  const std::vector<McpServerState>& States() const { return states_; }

  // Servers that announced a changed tool list since they were last listed, sorted by name.
  std::vector<std::string> ChangedServers() const;

  // Lists again the tools of every server in ChangedServers() and returns what differs, one entry
  // per server whose list really changed (a server whose new list fails keeps its old one; its
  // error is in the entry's `error`). States() shows the new lists afterwards. Call from the
  // session's thread, between steps.
  std::vector<McpToolListChange> Refresh(const CancelToken& cancel);

  // Server `server`'s tool `info` as MakeTools makes it; null when no such server is connected.
  std::unique_ptr<McpTool> MakeTool(const std::string& server, const McpToolInfo& info) const;

 private:
  McpServerSet() = default;
  struct Entry {
    McpServerSpec spec;
    std::shared_ptr<McpClient> client;  // null when not connected
  };
  std::vector<Entry> entries_;  // parallel to states_
  std::vector<McpServerState> states_;
};

}  // namespace dsagent
