// JSON-RPC 2.0 messages as the Model Context Protocol uses them: building requests, notifications
// and replies, and telling apart what a server sends. Pure functions over Json; no I/O.
#pragma once

#include <cstdint>
#include <string>

#include "common/json.h"

namespace dsagent {

enum class JsonRpcKind {
  kRequest,       // has "method" and "id": the peer expects a reply
  kNotification,  // has "method", no "id"
  kResponse,      // has "id" and "result" or "error"
  kInvalid,       // anything else (not an object, wrong "jsonrpc", ...)
};

JsonRpcKind ClassifyJsonRpc(const Json& message);

// {"jsonrpc":"2.0","id":id,"method":method[,"params":params]}; params omitted when null.
Json MakeJsonRpcRequest(int64_t id, const std::string& method, const Json& params);
// {"jsonrpc":"2.0","method":method[,"params":params]}; params omitted when null.
Json MakeJsonRpcNotification(const std::string& method, const Json& params);
// Replies to a peer's request with the same id.
Json MakeJsonRpcResult(const Json& id, const Json& result);
Json MakeJsonRpcError(const Json& id, int code, const std::string& message);

// JSON-RPC's standard error codes used here.
constexpr int kJsonRpcMethodNotFound = -32601;

// A response's "error" member for a person: "message (code -32602)"; data appended when it is a
// short string.
std::string DescribeJsonRpcError(const Json& error);

}  // namespace dsagent
