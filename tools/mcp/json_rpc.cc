#include "tools/mcp/json_rpc.h"

namespace dsagent {

JsonRpcKind ClassifyJsonRpc(const Json& message) {
  if (!message.is_object() || message.value("jsonrpc", "") != "2.0") return JsonRpcKind::kInvalid;
  const bool has_id = message.contains("id") && (message["id"].is_number_integer() ||
                                                 message["id"].is_string());
  if (message.contains("method") && message["method"].is_string()) {
    return has_id ? JsonRpcKind::kRequest : JsonRpcKind::kNotification;
  }
  if (has_id && (message.contains("result") || message.contains("error"))) {
    return JsonRpcKind::kResponse;
  }
  return JsonRpcKind::kInvalid;
}

Json MakeJsonRpcRequest(int64_t id, const std::string& method, const Json& params) {
  Json m = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) m["params"] = params;
  return m;
}

Json MakeJsonRpcNotification(const std::string& method, const Json& params) {
  Json m = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) m["params"] = params;
  return m;
}

Json MakeJsonRpcResult(const Json& id, const Json& result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", result}};
}

Json MakeJsonRpcError(const Json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

std::string DescribeJsonRpcError(const Json& error) {
  if (!error.is_object()) return "malformed error: " + error.dump();
  std::string out = error.value("message", std::string("(no message)"));
  if (error.contains("code") && error["code"].is_number_integer()) {
    out += " (code " + std::to_string(error["code"].get<int64_t>()) + ")";
  }
  constexpr size_t kMaxData = 300;
  if (error.contains("data") && error["data"].is_string() &&
      error["data"].get<std::string>().size() <= kMaxData) {
    out += ": " + error["data"].get<std::string>();
  }
  return out;
}

}  // namespace dsagent
