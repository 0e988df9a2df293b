// McpClient: the client side of the Model Context Protocol over one transport — the
// initialization handshake with protocol version negotiation, listing tools (all pages), calling
// a tool with a timeout and cancellation, and answering what a server may ask of a client that
// offers no capabilities (ping; anything else gets "method not found"). Only the tools feature is
// used: dsagent offers no roots, sampling or elicitation, and does not read resources or prompts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tools/mcp/mcp_transport.h"

namespace dsagent {

// What tools/list says about one tool.
struct McpToolInfo {
  std::string name;         // as the server calls it
  std::string title;        // "" when none
  std::string description;  // "" when none
  Json input_schema;        // a JSON Schema object ({"type":"object"} when the server gave none)
  Json annotations;         // hints such as readOnlyHint; null when none
};

// What initialize told us about the server.
struct McpServerInfo {
  std::string name;              // serverInfo.name
  std::string version;           // serverInfo.version
  std::string protocol_version;  // agreed; one of SupportedMcpProtocolVersions()
  std::string instructions;      // "" when none
  bool has_tools = false;        // the server declared the tools capability
};

// The revisions this client speaks, newest first; initialize offers the first.
const std::vector<std::string>& SupportedMcpProtocolVersions();

struct McpClientOptions {
  std::string client_name = "dsagent";
  std::string client_version = "0";
  // Limit of initialize and each tools/list page.
  std::chrono::milliseconds request_timeout{30000};
};

// One request at a time (calls are serialized by a mutex); thread-safe otherwise.
class McpClient {
 public:
  McpClient(std::unique_ptr<McpTransport> transport, McpClientOptions options);
  ~McpClient();
  McpClient(const McpClient&) = delete;
  McpClient& operator=(const McpClient&) = delete;

  // initialize, then notifications/initialized. The server may answer with another revision
  // than offered; it is accepted when this client speaks it. Error: the transport failed, the
  // server answered with an error, or with a revision this client does not speak (naming both).
  Expected<McpServerInfo, std::string> Initialize(const CancelToken& cancel);

  // Every tool, following nextCursor through all pages, in the server's order. Clears
  // ToolsChanged() when the first page arrives (a change announced before it is in the list).
  // Error: as a request fails (see CallTool), or a tool without a name.
  Expected<std::vector<McpToolInfo>, std::string> ListTools(const CancelToken& cancel);

  // tools/call; returns the result object ({"content":[...], "isError":..., ...}). When the
  // timeout passes or `cancel` fires first, the server gets notifications/cancelled for the
  // request and the error says "timed out after N s" or "interrupted". Error also: a JSON-RPC
  // error reply (unknown tool, invalid arguments: "message (code N)") or a broken connection.
  Expected<Json, std::string> CallTool(const std::string& name, const Json& arguments,
                                       std::chrono::milliseconds timeout,
                                       const CancelToken& cancel);

  // True once the server sent notifications/tools/list_changed after the last ListTools: in the
  // answer to a request, or on its own (over HTTP, the GET stream). Handles what the server sent
  // on its own first, unless a request is in flight (which handles it).
  bool ToolsChanged();

  // Ends the connection (see McpTransport::Close). Later requests fail.
  void Close();

 private:
  Expected<Json, std::string> Request(const std::string& method, const Json& params,
                                      std::chrono::milliseconds timeout, const CancelToken& cancel);
  // A request or notification from the server that arrived while waiting for a reply.
  void HandleServerMessage(const Json& message);
  // What the server sent on its own (McpTransport::TakeUnsolicited). Requires mu_.
  void HandleUnsolicited();
  // notifications/cancelled for request `id`, best effort, with a short deadline of its own.
  void NotifyCancelled(int64_t id, const std::string& reason);

  std::unique_ptr<McpTransport> transport_;
  McpClientOptions options_;
  std::mutex mu_;
  int64_t next_id_ = 1;
  std::atomic<bool> tools_changed_{false};
  bool closed_ = false;
};

}  // namespace dsagent
