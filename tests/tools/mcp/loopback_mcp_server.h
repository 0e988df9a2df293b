// LoopbackMcpServer: a small streamable-HTTP MCP server on 127.0.0.1 for the client's tests. It
// checks what the spec requires of a client (Accept header, Mcp-Session-Id after initialize,
// MCP-Protocol-Version), pages tools/list, answers some requests as SSE streams carrying a
// notification and a ping before the reply, optionally keeps a GET stream for messages of its
// own, and records every message it received.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/json.h"

namespace dsagent::testing {

struct LoopbackMcpOptions {
  std::string answer_version = "";  // "" = the version the client offered
  std::string required_header;      // e.g. "Authorization: Bearer t0k"; 401 without it
  // Also offers a tool "grow"; calling it changes the list (adds "gamma", removes "zeta", gives
  // "alpha" a new description) and announces that with notifications/tools/list_changed inside
  // the call's answer.
  bool growable = false;
  // Answers GET (with the session) with an event stream for messages of its own (see
  // AnnounceToolsChanged); otherwise GET gets 405, as from servers that offer no such stream.
  bool get_stream = false;
  // Sent as WWW-Authenticate with the 401 of required_header.
  std::string auth_challenge;
};

class LoopbackMcpServer {
 public:
  explicit LoopbackMcpServer(LoopbackMcpOptions options = {});
  ~LoopbackMcpServer();
  std::string Url() const;  // http://127.0.0.1:PORT/mcp

  // Every JSON-RPC message POSTed, in order, and the methods of HTTP requests ("POST"/"DELETE").
  std::vector<Json> Received() const;
  std::vector<std::string> HttpMethods() const;
  // Lets a blocked "slow" tool call finish (its handler waits for this).
  void ReleaseSlow();
  // Waits (up to 10 s) until a client holds the GET stream open; false if none did.
  bool WaitForGetStream();
  // Sends notifications/tools/list_changed on the open GET stream.
  void AnnounceToolsChanged();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsagent::testing
