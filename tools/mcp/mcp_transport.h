// McpTransport: how JSON-RPC messages travel between the MCP client and one server. Two kinds:
// stdio (stdio_transport.h: a child process, one JSON message per line) and streamable HTTP
// (http_transport.h: each message POSTed, replies as JSON or an SSE stream). McpClient
// (mcp_client.h) speaks the protocol over either; a transport only moves messages.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "common/json.h"

namespace dsagent {

using McpClock = std::chrono::steady_clock;

class McpTransport {
 public:
  virtual ~McpTransport() = default;

  // Sends one message. Over HTTP this is the whole POST: messages the server sends back in its
  // answer (the reply, and requests or notifications before it) are queued for Receive, so it may
  // block until `deadline` or `cancel`. Error: the message could not be delivered (the server
  // exited, the connection failed, an HTTP error status, the deadline passed, cancel fired), one
  // line naming the server.
  virtual Expected<Ok, std::string> Send(const Json& message, McpClock::time_point deadline,
                                         const CancelToken& cancel) = 0;

  // The next message from the server; nullopt when none arrived before `deadline` or `cancel`
  // fired. Error: the connection is gone (stdio: the server exited; the message says how and
  // where its stderr went).
  virtual Expected<std::optional<Json>, std::string> Receive(McpClock::time_point deadline,
                                                             const CancelToken& cancel) = 0;

  // Told once initialization agreed on a protocol version (HTTP sends it as a header).
  virtual void SetProtocolVersion(const std::string& version) { (void)version; }

  // Messages the server sent on its own, outside any exchange, since the last call (HTTP: the
  // GET stream; stdio delivers everything through Receive). Never blocks; thread-safe.
  virtual std::vector<Json> TakeUnsolicited() { return {}; }

  // Ends the connection (stdio: closes the server's stdin, then stops it; HTTP: ends the
  // session). Idempotent; also done by the destructor.
  virtual void Close() = 0;
};

}  // namespace dsagent
