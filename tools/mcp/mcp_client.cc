#include "tools/mcp/mcp_client.h"

#include <algorithm>

#include "tools/mcp/json_rpc.h"

namespace dsagent {
namespace {

using std::chrono::milliseconds;

// How long a notifications/cancelled may take to deliver: it must not hold up the interrupted
// step.
constexpr milliseconds kNotifyTimeout{2000};
// A server that pages forever (a cursor that never ends) is cut off here.
constexpr int kMaxToolPages = 1000;

std::string Seconds(milliseconds ms) {
  const int64_t s = ms.count() / 1000;
  return s * 1000 == ms.count() ? std::to_string(s) + " s" : std::to_string(ms.count()) + " ms";
}

}  // namespace

const std::vector<std::string>& SupportedMcpProtocolVersions() {
  static const std::vector<std::string> kVersions = {"2025-06-18", "2025-03-26", "2024-11-05"};
  return kVersions;
}

McpClient::McpClient(std::unique_ptr<McpTransport> transport, McpClientOptions options)
    : transport_(std::move(transport)), options_(std::move(options)) {}

McpClient::~McpClient() { Close(); }

void McpClient::Close() {
  std::lock_guard lock(mu_);
  if (closed_) return;
  closed_ = true;
  transport_->Close();
}

Expected<McpServerInfo, std::string> McpClient::Initialize(const CancelToken& cancel) {
  const Json params = {
      {"protocolVersion", SupportedMcpProtocolVersions().front()},
      {"capabilities", Json::object()},
      {"clientInfo", {{"name", options_.client_name}, {"version", options_.client_version}}}};
  auto result = Request("initialize", params, options_.request_timeout, cancel);
  if (!result) return MakeUnexpected("initialize: " + result.error());
  if (!result->is_object()) return MakeUnexpected("initialize: the result is not an object");
  McpServerInfo info;
  info.protocol_version = StringField(*result, "protocolVersion");
  const auto& supported = SupportedMcpProtocolVersions();
  if (std::find(supported.begin(), supported.end(), info.protocol_version) == supported.end()) {
    std::string list;
    for (const std::string& v : supported) list += (list.empty() ? "" : ", ") + v;
    return MakeUnexpected("the server speaks MCP revision '" + info.protocol_version +
                          "'; dsagent speaks " + list);
  }
  const Json server = result->value("serverInfo", Json::object());
  if (server.is_object()) {
    info.name = StringField(server, "name");
    info.version = StringField(server, "version");
  }
  info.instructions = StringField(*result, "instructions");
  const Json caps = result->value("capabilities", Json::object());
  info.has_tools = caps.is_object() && caps.contains("tools");
  transport_->SetProtocolVersion(info.protocol_version);
  {
    std::lock_guard lock(mu_);
    auto sent = transport_->Send(MakeJsonRpcNotification("notifications/initialized", nullptr),
                                 McpClock::now() + options_.request_timeout, cancel);
    if (!sent) return MakeUnexpected("notifications/initialized: " + sent.error());
  }
  return info;
}

Expected<std::vector<McpToolInfo>, std::string> McpClient::ListTools(const CancelToken& cancel) {
  std::vector<McpToolInfo> tools;
  Json cursor;
  for (int page = 0; page < kMaxToolPages; ++page) {
    Json params = Json::object();
    if (!cursor.is_null()) params["cursor"] = cursor;
    auto result = Request("tools/list", params, options_.request_timeout, cancel);
    if (!result) return MakeUnexpected("tools/list: " + result.error());
    // A change announced before the first page was answered is in this list already (servers
    // that register tools as they start announce one right after initialization).
    if (page == 0) tools_changed_ = false;
    const Json list = result->is_object() ? result->value("tools", Json()) : Json();
    if (!list.is_array()) return MakeUnexpected("tools/list: the result has no 'tools' list");
    for (const Json& t : list) {
      McpToolInfo info;
      info.name = t.is_object() ? StringField(t, "name") : "";
      if (info.name.empty()) return MakeUnexpected("tools/list: a tool has no name");
      info.title = StringField(t, "title");
      info.description = StringField(t, "description");
      info.input_schema = t.value("inputSchema", Json::object());
      if (!info.input_schema.is_object()) info.input_schema = Json::object();
      if (!info.input_schema.contains("type")) info.input_schema["type"] = "object";
      info.annotations = t.value("annotations", Json());
      tools.push_back(std::move(info));
    }
    cursor = result->value("nextCursor", Json());
    if (!cursor.is_string() || cursor.get<std::string>().empty()) return tools;
  }
  return MakeUnexpected("tools/list: more than " + std::to_string(kMaxToolPages) + " pages");
}

Expected<Json, std::string> McpClient::CallTool(const std::string& name, const Json& arguments,
                                                milliseconds timeout, const CancelToken& cancel) {
  return Request("tools/call", {{"name", name}, {"arguments", arguments}}, timeout, cancel);
}

Expected<Json, std::string> McpClient::Request(const std::string& method, const Json& params,
                                               milliseconds timeout, const CancelToken& cancel) {
  std::lock_guard lock(mu_);
  if (closed_) return MakeUnexpected("the connection is closed");
  HandleUnsolicited();
  const int64_t id = next_id_++;
  const McpClock::time_point deadline = McpClock::now() + timeout;
  const auto give_up = [&]() -> std::optional<std::string> {
    if (cancel.IsCancelled()) {
      NotifyCancelled(id, "interrupted by the user");
      return "interrupted";
    }
    if (McpClock::now() >= deadline) {
      NotifyCancelled(id, "timed out after " + Seconds(timeout));
      return "timed out after " + Seconds(timeout);
    }
    return std::nullopt;
  };
  if (auto sent = transport_->Send(MakeJsonRpcRequest(id, method, params), deadline, cancel);
      !sent) {
    if (auto why = give_up()) return MakeUnexpected(*why);
    return MakeUnexpected(sent.error());
  }
  while (true) {
    auto message = transport_->Receive(deadline, cancel);
    if (!message) return MakeUnexpected(message.error());
    if (!message->has_value()) {
      if (auto why = give_up()) return MakeUnexpected(*why);
      continue;
    }
    const Json& m = **message;
    if (ClassifyJsonRpc(m) != JsonRpcKind::kResponse) {
      HandleServerMessage(m);
      continue;
    }
    if (m["id"] != Json(id)) continue;  // a late reply to a request given up on
    if (m.contains("error")) return MakeUnexpected(DescribeJsonRpcError(m["error"]));
    return m["result"];
  }
}

bool McpClient::ToolsChanged() {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (lock.owns_lock() && !closed_) HandleUnsolicited();
  return tools_changed_.load();
}

void McpClient::HandleUnsolicited() {
  for (const Json& m : transport_->TakeUnsolicited()) HandleServerMessage(m);
}

void McpClient::HandleServerMessage(const Json& message) {
  const JsonRpcKind kind = ClassifyJsonRpc(message);
  const std::string method = message.value("method", "");
  if (kind == JsonRpcKind::kNotification) {
    if (method == "notifications/tools/list_changed") tools_changed_ = true;
    return;  // logging, progress, resources: nothing dsagent acts on
  }
  if (kind != JsonRpcKind::kRequest) return;
  const Json reply = method == "ping" ? MakeJsonRpcResult(message["id"], Json::object())
                                      : MakeJsonRpcError(message["id"], kJsonRpcMethodNotFound,
                                                         "dsagent does not offer " + method);
  // A reply that cannot be delivered shows up as the next Receive's error.
  (void)transport_->Send(reply, McpClock::now() + kNotifyTimeout, CancelToken());
}

void McpClient::NotifyCancelled(int64_t id, const std::string& reason) {
  (void)transport_->Send(
      MakeJsonRpcNotification("notifications/cancelled", {{"requestId", id}, {"reason", reason}}),
      McpClock::now() + kNotifyTimeout, CancelToken());
}

}  // namespace dsagent
