// The streamable HTTP transport of MCP (spec revision 2025-03-26 and later): every message is a
// POST of JSON to one endpoint with `Accept: application/json, text/event-stream`; the server
// answers a request with either one JSON body or an SSE stream carrying the reply (and possibly
// requests and notifications before it), and a notification with 202 Accepted. The session id the
// server assigns at initialization (`Mcp-Session-Id`) goes on every later request, the negotiated
// protocol version as `MCP-Protocol-Version`. Once initialized (notifications/initialized
// delivered), a background thread opens the optional GET stream for messages the server sends on
// its own (notifications such as tools/list_changed, pings); a server that does not offer it
// (405 or any other answer than an event stream) is fine. Those messages come out of
// TakeUnsolicited. A 401 names what the server asked for (WWW-Authenticate) and how to give
// dsagent a bearer token: dsagent does not run OAuth flows itself.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "tools/mcp/mcp_transport.h"

struct curl_slist;

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
  std::vector<Json> TakeUnsolicited() override;
  // Stops the GET stream, then ends the session with DELETE when the server gave one (a refusal
  // is fine: it is optional).
  void Close() override;

  const std::string& session_id() const { return session_id_; }
  // Whether the GET stream is open now (for tests and `dsagent mcp get`).
  bool ListeningForServerMessages() const;

 private:
  struct Listener;  // the GET stream's thread and what it collected
  void StartListener();
  // The headers every request carries: session, protocol version, the configured ones.
  curl_slist* CommonHeaders(curl_slist* headers) const;

  HttpServerOptions options_;
  std::string session_id_;
  std::string protocol_version_;
  std::deque<Json> inbox_;
  bool closed_ = false;
  std::unique_ptr<Listener> listener_;
};

}  // namespace dsagent
