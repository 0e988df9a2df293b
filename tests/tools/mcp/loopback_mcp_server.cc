#include "tests/tools/mcp/loopback_mcp_server.h"

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace dsagent::testing {

namespace {
constexpr const char* kSession = "loopback-session-1";

std::string Sse(const std::vector<Json>& messages) {
  std::string out;
  for (const Json& m : messages) out += "event: message\ndata: " + m.dump() + "\n\n";
  return out;
}

Json Result(const Json& id, Json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

Json Tool(const std::string& name, const std::string& description = "") {
  return {{"name", name},
          {"description", description.empty() ? "the " + name + " tool" : description},
          {"inputSchema", {{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}}}};
}
}  // namespace

struct LoopbackMcpServer::Impl {
  LoopbackMcpOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool slow_released = false;
  bool grown = false;
  std::vector<Json> received;
  std::vector<std::string> methods;
  std::string version;
  // The GET stream: open streams, messages waiting to go out on them, and shutdown.
  int get_streams = 0;
  std::vector<Json> outgoing;
  bool stopping = false;

  // Not recorded in `methods`: the client opens the stream from a thread of its own, so its
  // place among the POSTs is not fixed.
  void HandleGet(const httplib::Request& req, httplib::Response& res) {
    if (!options.get_stream) {
      res.status = 405;
      return;
    }
    if (req.get_header_value("Accept").find("text/event-stream") == std::string::npos ||
        req.get_header_value("Mcp-Session-Id") != kSession) {
      res.status = 400;
      return;
    }
    res.set_chunked_content_provider(
        "text/event-stream",
        [this](size_t, httplib::DataSink& sink) {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return stopping || !outgoing.empty(); });
          if (stopping) return false;
          const std::string events = Sse(outgoing);
          outgoing.clear();
          lock.unlock();
          return sink.write(events.data(), events.size());
        },
        [this](bool) {
          std::lock_guard lock(mu);
          --get_streams;
        });
    std::lock_guard lock(mu);
    ++get_streams;
    cv.notify_all();
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    Json body = Json::parse(req.body, nullptr, false);
    {
      std::lock_guard lock(mu);
      methods.push_back(req.method);
      if (!body.is_discarded()) received.push_back(body);
    }
    if (!options.required_header.empty()) {
      const size_t colon = options.required_header.find(": ");
      if (req.get_header_value(options.required_header.substr(0, colon)) !=
          options.required_header.substr(colon + 2)) {
        res.status = 401;
        if (!options.auth_challenge.empty()) {
          res.set_header("WWW-Authenticate", options.auth_challenge);
        }
        res.set_content("missing credentials", "text/plain");
        return;
      }
    }
    const std::string accept = req.get_header_value("Accept");
    if (accept.find("application/json") == std::string::npos ||
        accept.find("text/event-stream") == std::string::npos) {
      res.status = 406;
      res.set_content("Accept must list application/json and text/event-stream", "text/plain");
      return;
    }
    const std::string method = body.is_object() ? body.value("method", "") : "";
    if (method != "initialize") {
      if (req.get_header_value("Mcp-Session-Id") != kSession) {
        res.status = 400;
        res.set_content("missing or wrong Mcp-Session-Id", "text/plain");
        return;
      }
      if (req.get_header_value("MCP-Protocol-Version") != version) {
        res.status = 400;
        res.set_content("wrong MCP-Protocol-Version", "text/plain");
        return;
      }
    }
    if (req.method == "DELETE") {
      res.status = 200;
      return;
    }
    if (!body.contains("id") || !body.contains("method")) {  // notification or reply
      res.status = 202;
      return;
    }
    const Json id = body["id"];
    const Json params = body.value("params", Json::object());
    if (method == "initialize") {
      version = options.answer_version.empty() ? params.value("protocolVersion", "")
                                               : options.answer_version;
      res.set_header("Mcp-Session-Id", kSession);
      res.set_content(Result(id, {{"protocolVersion", version},
                                  {"capabilities", {{"tools", {{"listChanged", true}}}}},
                                  {"serverInfo", {{"name", "loopback"}, {"version", "1.0"}}}})
                          .dump(),
                      "application/json");
      return;
    }
    if (method == "tools/list") {
      const std::string cursor = params.value("cursor", "");
      bool grown_now = false;
      {
        std::lock_guard lock(mu);
        grown_now = grown;
      }
      Json page = cursor.empty()
                      ? Json{{"tools", {Tool("zeta"), Tool("alpha")}}, {"nextCursor", "page-2"}}
                      : Json{{"tools", {Tool("slow")}}};
      if (grown_now && cursor.empty()) {
        page["tools"] = {Tool("gamma"), Tool("alpha", "the alpha tool, version 2")};
      }
      if (options.growable && !cursor.empty()) page["tools"].push_back(Tool("grow"));
      // The second page comes as an event stream, after a list_changed notification.
      if (cursor.empty()) {
        res.set_content(Result(id, page).dump(), "application/json");
      } else {
        res.set_content(Sse({{{"jsonrpc", "2.0"}, {"method", "notifications/tools/list_changed"}},
                             Result(id, page)}),
                        "text/event-stream");
      }
      return;
    }
    if (method == "tools/call") {
      const std::string name = params.value("name", "");
      if (name == "slow") {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return slow_released; });
        res.set_content(Result(id, {{"content", Json::array()}}).dump(), "application/json");
        return;
      }
      if (name == "grow") {
        {
          std::lock_guard lock(mu);
          grown = true;
        }
        res.set_content(Sse({{{"jsonrpc", "2.0"}, {"method", "notifications/tools/list_changed"}},
                             Result(id, {{"content", {{{"type", "text"}, {"text", "grown"}}}}})}),
                        "text/event-stream");
        return;
      }
      const std::string text = params["arguments"].value("text", "");
      // A ping from the server before the reply: the client must answer it.
      res.set_content(
          Sse({{{"jsonrpc", "2.0"}, {"id", "srv-1"}, {"method", "ping"}},
               Result(id, {{"content", {{{"type", "text"}, {"text", name + ":" + text}}}},
                           {"isError", name == "zeta"}})}),
          "text/event-stream");
      return;
    }
    res.set_content(Json{{"jsonrpc", "2.0"},
                         {"id", id},
                         {"error", {{"code", -32601}, {"message", "no method " + method}}}}
                        .dump(),
                    "application/json");
  }
};

LoopbackMcpServer::LoopbackMcpServer(LoopbackMcpOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  Impl* impl = impl_.get();
  const auto handler = [impl](const httplib::Request& req, httplib::Response& res) {
    impl->Handle(req, res);
  };
  impl->server.Post("/mcp", handler);
  impl->server.Delete("/mcp", handler);
  impl->server.Get("/mcp", [impl](const httplib::Request& req, httplib::Response& res) {
    impl->HandleGet(req, res);
  });
  impl->port = impl->server.bind_to_any_port("127.0.0.1");
  // bind_to_any_port already listens, so connections queue even before the accept loop runs.
  impl->thread = std::thread([impl] { impl->server.listen_after_bind(); });
}

LoopbackMcpServer::~LoopbackMcpServer() {
  ReleaseSlow();
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->server.stop();
  impl_->thread.join();
}

std::string LoopbackMcpServer::Url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + "/mcp";
}

std::vector<Json> LoopbackMcpServer::Received() const {
  std::lock_guard lock(impl_->mu);
  return impl_->received;
}

std::vector<std::string> LoopbackMcpServer::HttpMethods() const {
  std::lock_guard lock(impl_->mu);
  return impl_->methods;
}

void LoopbackMcpServer::ReleaseSlow() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->slow_released = true;
  }
  impl_->cv.notify_all();
}

bool LoopbackMcpServer::WaitForGetStream() {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, std::chrono::seconds(10), [&] { return impl_->get_streams > 0; });
}

void LoopbackMcpServer::AnnounceToolsChanged() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->outgoing.push_back({{"jsonrpc", "2.0"}, {"method", "notifications/tools/list_changed"}});
  }
  impl_->cv.notify_all();
}

}  // namespace dsagent::testing
