// The streamable HTTP transport of MCP (spec revision 2025-03-26 and later): every message is a
// POST of JSON to one endpoint with `Accept: application/json, text/event-stream`; the server
// answers a request with either one JSON body or an SSE stream carrying the reply (and possibly
// requests and notifications before it), and a notification with 202 Accepted. The session id the
// server assigns at initialization (`Mcp-Session-Id`) goes on every later request, the negotiated
// protocol version as `MCP-Protocol-Version`. The optional GET stream for unsolicited server
// messages is not opened: dsagent only needs replies to its own requests.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "tools/mcp/mcp_transport.h"

namespace dsagent {

struct HttpServerOptions {
  std::string url;  // the MCP endpoint, e.g. http://127.0.0.1:8080/mcp
  // Full header lines ("Authorization: Bearer ..."), already expanded. Never logged or echoed in
  // errors.
  std::vector<std::string> headers;
  int connect_timeout_s = 10;
};

class HttpTransport final : public McpTransport {
 public:
  explicit HttpTransport(HttpServerOptions options);
  ~HttpTransport() override;

  Expected<Ok, std::string> Send(const Json& message, McpClock::time_point deadline,
                                 const CancelToken& cancel) override;
  // Returns what the last Sends queued; never waits for the network. Error: nothing is queued
  // (a Send of a request succeeds only once the reply is queued).
  Expected<std::optional<Json>, std::string> Receive(McpClock::time_point deadline,
                                                     const CancelToken& cancel) override;
  void SetProtocolVersion(const std::string& version) override { protocol_version_ = version; }
  // Ends the session with DELETE when the server gave one (a refusal is fine: it is optional).
  void Close() override;

  const std::string& session_id() const { return session_id_; }

 private:
  HttpServerOptions options_;
  std::string session_id_;
  std::string protocol_version_;
  std::deque<Json> inbox_;
  bool closed_ = false;
};

}  // namespace dsagent
