#include "tests/support/deepseek_test_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/json.h"
#include "tests/support/prefix_cache_model.h"
#include "tests/support/scripted_wire.h"

namespace dsagent::testing {

using nlohmann::json;

ScriptedReply ScriptedReply::Text(std::string content, std::string reasoning) {
  ScriptedReply r;
  r.content = std::move(content);
  r.reasoning = std::move(reasoning);
  return r;
}

dsagent::ToolCall ScriptedCall(std::string id, std::string name, const nlohmann::json& args) {
  return {std::move(id), std::move(name), dsagent::CanonicalJson(args)};
}

dsagent::ToolCall ScriptedBash(std::string id, const std::string& command) {
  return ScriptedCall(std::move(id), "bash", {{"command", command}});
}

ScriptedReply ScriptedReply::Calls(std::vector<dsagent::ToolCall> calls, std::string reasoning) {
  ScriptedReply r;
  r.tool_calls = std::move(calls);
  r.reasoning = std::move(reasoning);
  return r;
}

ScriptedReply ScriptedReply::Error(int status, std::string message,
                                   std::optional<int> retry_after_s) {
  ScriptedReply r;
  r.kind = Kind::kHttpError;
  r.status = status;
  r.error_message = std::move(message);
  r.retry_after_s = retry_after_s;
  return r;
}

ScriptedReply ScriptedReply::EngineLost(bool anthropic) {
  ScriptedReply r = Error(503, "");
  r.body = anthropic
               ? R"({"type": "error", "error": {"type": "api_error", "code": "engine_unavailable",
                "message": "cuda:0 is lost to a device fault (...): restart it"}})"
               : R"({"error": {"message": "cuda:0 is lost to a device fault (...): restart it",
                    "type": "server_error", "param": null, "code": "engine_unavailable"}})";
  return r;
}

ScriptedReply ScriptedReply::Cut(std::string partial_content) {
  ScriptedReply r;
  r.kind = Kind::kCutStream;
  r.content = std::move(partial_content);
  return r;
}

ScriptedReply ScriptedReply::Fault(Kind kind) {
  ScriptedReply r;
  r.kind = kind;
  return r;
}

ScriptedReply ScriptedReply::Block(ScriptedReply then) {
  ScriptedReply r;
  r.kind = Kind::kBlock;
  r.then = std::make_shared<ScriptedReply>(std::move(then));
  return r;
}

namespace {

// A rejection: the status and the message DeepSeek would send.
struct Rejection {
  int status;
  std::string message;
};

// The accepted socket of the connection from remote_ip:remote_port to local_port, or -1 (httplib
// 0.11 does not hand handlers their socket).
int ConnectionSocket(const std::string& remote_ip, int remote_port, int local_port) {
  auto ip_and_port = [](const sockaddr_storage& a) -> std::pair<std::string, int> {
    char buf[INET6_ADDRSTRLEN] = "";
    if (a.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
      inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
      return {buf, ntohs(v4->sin_port)};
    }
    return {"", -1};
  };
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int fd = std::stoi(name);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t peer_len = sizeof peer, local_len = sizeof local;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (ip_and_port(peer) == std::pair{remote_ip, remote_port} &&
        ip_and_port(local).second == local_port) {
      return fd;
    }
  }
  return -1;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string StringOr(const json& obj, const char* key, std::string fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

bool ThinkingEnabled(const json& body) {
  // DeepSeek's default is thinking on; only an explicit "disabled" turns it off.
  // chat_template_kwargs (the vLLM convention) is ignored, as the hosted API ignores it.
  auto it = body.find("thinking");
  return it == body.end() || StringOr(*it, "type", "enabled") != "disabled";
}

bool HasBlock(const json& message, const std::string& type) {
  auto it = message.find("content");
  if (it == message.end() || !it->is_array()) return false;
  return std::any_of(it->begin(), it->end(),
                     [&](const json& b) { return StringOr(b, "type", "") == type; });
}

std::optional<Rejection> CheckMessages(WireKind wire, const json& body, bool strict_all) {
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array()) {
    return Rejection{400,
                     "Failed to deserialize the JSON body into the target type: "
                     "missing field `messages`"};
  }
  const bool anthropic = wire == WireKind::kAnthropic;
  const std::vector<std::string> roles =
      anthropic
          ? std::vector<std::string>{"user", "assistant"}
          : std::vector<std::string>{"system", "user", "assistant", "tool", "latest_reminder"};
  for (const json& m : *it) {
    const std::string role = StringOr(m, "role", "");
    if (std::find(roles.begin(), roles.end(), role) == roles.end()) {
      std::string expected;
      for (const auto& r : roles) expected += (expected.empty() ? "`" : ", `") + r + "`";
      return Rejection{400,
                       "Failed to deserialize the JSON body into the target type: "
                       "messages: unknown variant `" +
                           role + "`, expected one of " + expected};
    }
  }
  if (!ThinkingEnabled(body)) return std::nullopt;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    if (StringOr(m, "role", "") != "assistant") continue;
    bool has_reasoning, has_calls;
    if (anthropic) {
      has_reasoning = HasBlock(m, "thinking");
      has_calls = HasBlock(m, "tool_use");
    } else {
      has_reasoning = m.contains("reasoning_content") && m["reasoning_content"].is_string();
      has_calls =
          m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty();
    }
    if (has_reasoning) continue;
    if (strict_all) {
      return Rejection{400,
                       "Missing `reasoning_content` field in the assistant message at "
                       "message index " +
                           std::to_string(i)};
    }
    if (has_calls) {
      return Rejection{400,
                       "The `reasoning_content` in the thinking mode must be passed back to the "
                       "API."};
    }
  }
  return std::nullopt;
}

PromptItems ItemsOf(WireKind wire, const json& body) {
  json head = {{"tools", body.contains("tools") ? body["tools"] : json()}};
  if (wire == WireKind::kAnthropic)
    head["system"] = body.contains("system") ? body["system"] : json();
  PromptItems items = {dsagent::CanonicalJson(head)};
  for (const json& m : body["messages"]) items.push_back(dsagent::CanonicalJson(m));
  return items;
}

std::string Masked(const std::string& key) {
  return "****" + (key.size() > 4 ? key.substr(key.size() - 4) : std::string());
}

}  // namespace

struct DeepSeekTestServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = 0;

  mutable std::mutex mu;
  mutable std::condition_variable cv;  // request arrivals, releases, shutdown
  std::deque<ScriptedReply> script;
  std::vector<ReceivedRequest> requests;
  std::string api_key = "test-key";
  bool strict_reasoning_all = false;
  // Requests with an index below this are released from kBlock. Counting arrivals rather than
  // waiters means a release also covers a request still on its way to the block.
  size_t released_below = 0;
  bool shutting_down = false;
  PrefixCacheModel cache;
  Responder responder;
  size_t keep_bodies = SIZE_MAX;

  void HandleChat(const httplib::Request& req, httplib::Response& res, WireKind wire);
  void Serve(size_t index, const ScriptedReply& reply, const json& body, WireKind wire,
             const httplib::Request& req, httplib::Response& res);
  void Reply(size_t index, httplib::Response& res, WireKind wire, int status,
             const std::string& message);
  void SetOutcome(size_t index, int status, const dsagent::Usage& usage = {});
  ReplyPlan Plan(size_t index, const ScriptedReply& reply, const json& body, WireKind wire);
  std::optional<Rejection> CheckAuth(const httplib::Request& req) const;
};

std::optional<Rejection> DeepSeekTestServer::Impl::CheckAuth(const httplib::Request& req) const {
  std::string provided;
  const std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0) {
    provided = auth.substr(7);
  } else {
    provided = req.get_header_value("x-api-key");
  }
  std::lock_guard<std::mutex> lock(mu);
  if (provided == api_key && !provided.empty()) return std::nullopt;
  // Like DeepSeek: never the whole key, only enough to tell keys apart.
  return Rejection{401, "Authentication Fails, Your api key: " + Masked(provided) + " is invalid"};
}

void DeepSeekTestServer::Impl::SetOutcome(size_t index, int status, const dsagent::Usage& usage) {
  std::lock_guard<std::mutex> lock(mu);
  requests[index].status = status;
  requests[index].usage = usage;
}

void DeepSeekTestServer::Impl::Reply(size_t index, httplib::Response& res, WireKind wire,
                                     int status, const std::string& message) {
  res.status = status;
  res.set_content(dsagent::CanonicalJson(ErrorBody(wire, status, message)), "application/json");
  SetOutcome(index, status);
}

void DeepSeekTestServer::Impl::HandleChat(const httplib::Request& req, httplib::Response& res,
                                          WireKind wire) {
  ReceivedRequest rec;
  rec.path = req.path;
  rec.remote_port = req.remote_port;
  for (const auto& [name, value] : req.headers) rec.headers[Lower(name)] = value;
  rec.body = req.body;
  json parsed = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  rec.json = parsed.is_discarded() ? json() : parsed;
  size_t index;
  {
    std::lock_guard<std::mutex> lock(mu);
    index = requests.size();
    requests.push_back(rec);
  }
  cv.notify_all();
  res.set_header("x-request-id", "req-" + std::to_string(index + 1));

  if (auto r = CheckAuth(req)) return Reply(index, res, wire, r->status, r->message);
  if (!rec.json.is_object()) {
    return Reply(index, res, wire, 400,
                 "Failed to deserialize the JSON body into the target type: invalid JSON");
  }
  bool strict;
  {
    std::lock_guard<std::mutex> lock(mu);
    strict = strict_reasoning_all;
  }
  if (auto r = CheckMessages(wire, rec.json, strict)) {
    return Reply(index, res, wire, r->status, r->message);
  }
  std::optional<ScriptedReply> reply;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!script.empty()) {
      reply = std::move(script.front());
      script.pop_front();
    }
  }
  Responder respond;
  {
    std::lock_guard<std::mutex> lock(mu);
    respond = responder;
    if (keep_bodies != SIZE_MAX && index >= keep_bodies) {  // forget old bodies, keep the rest
      requests[index - keep_bodies].body.clear();
      requests[index - keep_bodies].json = json();
    }
  }
  if (!reply && respond) reply = respond(rec.json);
  if (!reply) {
    // Loud on purpose: a test that sends more requests than it scripted must fail visibly.
    return Reply(index, res, wire, 500,
                 "dsagent test server: the script is exhausted (no scripted reply left for chat "
                 "request #" +
                     std::to_string(index + 1) + ")");
  }
  Serve(index, *reply, rec.json, wire, req, res);
}

ReplyPlan DeepSeekTestServer::Impl::Plan(size_t index, const ScriptedReply& reply, const json& body,
                                         WireKind wire) {
  ReplyPlan p;
  p.id =
      (wire == WireKind::kAnthropic ? "msg_test_" : "chatcmpl-test-") + std::to_string(index + 1);
  p.model = reply.model.empty() ? StringOr(body, "model", "") : reply.model;
  p.content = reply.content;
  p.reasoning = reply.reasoning;
  p.tool_calls = reply.tool_calls;
  p.finish_reason = !reply.finish_reason.empty() ? reply.finish_reason
                    : reply.tool_calls.empty()   ? "stop"
                                                 : "tool_calls";
  p.send_usage = reply.send_usage;
  p.keep_alives = reply.keep_alives;

  // Prefix-cache accounting: see the header. The partition is (model, user_id).
  const std::string user_id = wire == WireKind::kAnthropic
                                  ? StringOr(body.value("metadata", json()), "user_id", "")
                                  : StringOr(body, "user_id", "");
  const std::string partition = StringOr(body, "model", "") + '\x1f' + user_id;
  PromptItems items = ItemsOf(wire, body);
  std::lock_guard<std::mutex> lock(mu);
  dsagent::Usage u;
  u.input_cache_hit = cache.HitTokens(partition, items);
  u.input_cache_miss = PrefixTokens(items, items.size()) - u.input_cache_hit;
  size_t out_bytes = p.content.size() + p.reasoning.size();
  for (const auto& c : p.tool_calls) out_bytes += c.name.size() + c.arguments.size();
  u.output = EstimateTokens(out_bytes);
  u.reasoning = EstimateTokens(p.reasoning.size());
  p.usage = reply.usage.value_or(u);
  cache.Persist(partition, items);
  if (reply.kind == ScriptedReply::Kind::kAssistant) {
    items.push_back(dsagent::CanonicalJson(ReplayedAssistantMessage(wire, p)));
    cache.Persist(partition, items);
  }
  return p;
}

void DeepSeekTestServer::Impl::Serve(size_t index, const ScriptedReply& reply, const json& body,
                                     WireKind wire, const httplib::Request& req,
                                     httplib::Response& res) {
  switch (reply.kind) {
    case ScriptedReply::Kind::kHttpError: {
      res.status = reply.status;
      std::string message = reply.error_message;
      if (message.empty()) message = "scripted HTTP " + std::to_string(reply.status);
      res.set_content(reply.body.empty()
                          ? dsagent::CanonicalJson(ErrorBody(wire, reply.status, message))
                          : reply.body,
                      "application/json");
      if (reply.retry_after_s) res.set_header("Retry-After", std::to_string(*reply.retry_after_s));
      if (reply.no_retry) res.set_header("x-should-retry", "false");
      SetOutcome(index, reply.status);
      return;
    }
    case ScriptedReply::Kind::kBlock: {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return shutting_down || index < released_below; });
      if (shutting_down) {
        lock.unlock();
        return Reply(index, res, wire, 503, "dsagent test server is shutting down");
      }
      lock.unlock();
      if (!reply.then) {
        return Reply(index, res, wire, 500, "dsagent test server: kBlock reply without `then`");
      }
      return Serve(index, *reply.then, body, wire, req, res);
    }
    case ScriptedReply::Kind::kDrop: {
      // Linger 0: the close that follows resets the connection instead of a clean FIN.
      const int fd = ConnectionSocket(req.remote_addr, req.remote_port, req.local_port);
      if (fd >= 0) {
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::shutdown(fd, SHUT_RDWR);
      }
      SetOutcome(index, 0);
      return;
    }
    case ScriptedReply::Kind::kAssistant:
    case ScriptedReply::Kind::kCutStream:
    case ScriptedReply::Kind::kMalformed:
    case ScriptedReply::Kind::kDrip:
    case ScriptedReply::Kind::kOversized:
      break;
  }

  ScriptedReply planned = reply;
  if (reply.kind == ScriptedReply::Kind::kOversized) {
    planned.content = std::string(reply.oversized_bytes, 'x') + reply.content;
  }
  const ReplyPlan plan = Plan(index, planned, body, wire);
  const bool cut = reply.kind == ScriptedReply::Kind::kCutStream;
  const bool fault = reply.kind == ScriptedReply::Kind::kMalformed ||
                     reply.kind == ScriptedReply::Kind::kDrip ||
                     reply.kind == ScriptedReply::Kind::kOversized;
  const bool stream = fault || (body.contains("stream") && body["stream"].is_boolean() &&
                                body["stream"].get<bool>());
  SetOutcome(index, 200, plan.usage);
  res.status = 200;
  if (!stream && !cut) {
    res.set_content(dsagent::CanonicalJson(CompleteBody(wire, plan)), "application/json");
    return;
  }
  auto pieces = std::make_shared<std::vector<std::string>>(cut ? CutStreamPieces(wire, plan)
                                                               : StreamPieces(wire, plan));
  if (reply.kind == ScriptedReply::Kind::kMalformed) {
    // A JSON object cut in half where the second event belongs.
    pieces->insert(pieces->begin() + std::min<size_t>(1, pieces->size()),
                   wire == WireKind::kAnthropic
                       ? "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                         "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"br\n\n"
                       : "data: {\"id\":\"" + plan.id +
                             "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"br\n\n");
  }
  const int drip_ms = reply.kind == ScriptedReply::Kind::kDrip ? reply.drip_ms : 0;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream; charset=utf-8", [pieces, cut, drip_ms](size_t, httplib::DataSink& sink) {
        for (const auto& piece : *pieces) {
          // The fault being simulated is a slow server; the pause is its pace, not a wait.
          if (drip_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(drip_ms));
          if (!sink.write(piece.data(), piece.size())) return false;
        }
        if (cut) return false;  // httplib drops the connection without the terminating chunk
        sink.done();
        return true;
      });
}

DeepSeekTestServer::DeepSeekTestServer() : impl_(std::make_unique<Impl>()) {
  // A client that hangs up mid-stream must not kill the test process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  Impl* impl = impl_.get();
  auto& svr = impl->server;
  // Held (kBlock) requests occupy a worker each; keep plenty.
  svr.new_task_queue = [] { return new httplib::ThreadPool(16); };
  svr.set_keep_alive_timeout(1);  // bounds how long an idle client connection delays shutdown
  // As API servers do: streamed chunks leave at once instead of waiting for the ACK of the last.
  svr.set_tcp_nodelay(true);
  svr.Post("/chat/completions", [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleChat(q, s, WireKind::kChatCompletions);
  });
  svr.Post("/v1/chat/completions", [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleChat(q, s, WireKind::kChatCompletions);
  });
  svr.Post("/anthropic/v1/messages", [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleChat(q, s, WireKind::kAnthropic);
  });
  auto models = [impl](const httplib::Request& q, httplib::Response& s) {
    if (auto r = impl->CheckAuth(q)) {
      s.status = r->status;
      s.set_content(
          dsagent::CanonicalJson(ErrorBody(WireKind::kChatCompletions, r->status, r->message)),
          "application/json");
      return;
    }
    json data = json::array();
    for (const char* id : {"deepseek-v4-flash", "deepseek-v4-pro"}) {
      data.push_back({{"id", id}, {"object", "model"}, {"owned_by", "deepseek"}});
    }
    s.set_content(dsagent::CanonicalJson({{"object", "list"}, {"data", data}}), "application/json");
  };
  svr.Get("/models", models);
  svr.Get("/v1/models", models);
  impl->port = svr.bind_to_any_port("127.0.0.1");
  if (impl->port <= 0) return;  // BaseUrl() then names port 0/-1 and every request fails loudly
  // bind_to_any_port already listens, so connections queue even before the accept loop runs.
  impl->thread = std::thread([impl] {
    impl->server.listen_after_bind();
    impl->listen_returned = true;
  });
  // httplib's stop() is a no-op until the accept loop has marked itself running, so a server
  // destroyed right after construction would never stop. cpp-httplib 0.11 offers no readiness
  // notification; polling its flag is the only way to know.
  while (!svr.is_running() && !impl->listen_returned) std::this_thread::yield();
}

DeepSeekTestServer::~DeepSeekTestServer() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->shutting_down = true;
  }
  impl_->cv.notify_all();
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string DeepSeekTestServer::BaseUrl() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port);
}

int DeepSeekTestServer::Port() const { return impl_->port; }

void DeepSeekTestServer::Enqueue(ScriptedReply reply) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->script.push_back(std::move(reply));
}

void DeepSeekTestServer::SetApiKey(std::string key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->api_key = std::move(key);
}

void DeepSeekTestServer::SetStrictReasoningAll(bool on) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->strict_reasoning_all = on;
}

std::vector<ReceivedRequest> DeepSeekTestServer::Requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->requests;
}

bool DeepSeekTestServer::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->requests.size() >= n; });
}

void DeepSeekTestServer::ReleaseBlocked() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->released_below = impl_->requests.size();
  }
  impl_->cv.notify_all();
}

void DeepSeekTestServer::SetResponder(Responder responder) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->responder = std::move(responder);
}

void DeepSeekTestServer::KeepBodies(size_t n) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->keep_bodies = n;
}

size_t DeepSeekTestServer::Remaining() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->script.size();
}

}  // namespace dsagent::testing
