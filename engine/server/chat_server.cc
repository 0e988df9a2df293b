#include "engine/server/chat_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <set>
#include <thread>

#include "engine/server/openai_chat.h"

namespace dsagent::engine::server {
namespace {

void SendError(httplib::Response& res, const WireError& e) {
  res.status = e.status;
  res.set_content(ErrorBody(e), "application/json");
}

}  // namespace

// Admits at most `parallel` generations; the rest wait in arrival order. A waiter may give up
// (its client went away, or the server stops); its place is skipped.
class Gate {
 public:
  explicit Gate(int parallel) : parallel_(std::max(1, parallel)) {}

  // True once admitted (call Release() later); false if stopped or `still_wanted` said no.
  bool Acquire(const std::function<bool()>& still_wanted) {
    std::unique_lock lock(mu_);
    const uint64_t ticket = next_++;
    ++waiting_;
    while (true) {
      while (abandoned_.count(front_)) abandoned_.erase(front_++);
      if (stopping_) break;
      if (ticket == front_ && running_ < parallel_) {
        ++front_;
        ++running_;
        --waiting_;
        cv_.notify_all();
        return true;
      }
      cv_.wait_for(lock, std::chrono::seconds(1));
      if (still_wanted && !stopping_ && !(ticket == front_ && running_ < parallel_)) {
        lock.unlock();
        const bool wanted = still_wanted();
        lock.lock();
        if (!wanted) break;
      }
    }
    abandoned_.insert(ticket);
    --waiting_;
    cv_.notify_all();
    return false;
  }
  void Release() {
    std::lock_guard lock(mu_);
    --running_;
    cv_.notify_all();
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  void Counts(int64_t* running, int64_t* waiting) const {
    std::lock_guard lock(mu_);
    *running = running_;
    *waiting = waiting_;
  }

 private:
  const int parallel_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ = 0, front_ = 0;
  int64_t running_ = 0, waiting_ = 0;
  std::set<uint64_t> abandoned_;
  bool stopping_ = false;
};

struct ChatServer::Impl {
  Impl(ChatCompleter& c, const ServerOptions& o) : completer(c), options(o), gate(o.parallel) {}

  void HandleChat(const httplib::Request& req, httplib::Response& res);
  void HandleModels(httplib::Response& res) const;
  void HandleHealth(httplib::Response& res) const;
  void Log(const char* what, const ChatResult* r, double seconds) const {
    if (r == nullptr) {
      std::fprintf(stderr, "dsagent serve: %s\n", what);
      return;
    }
    std::fprintf(stderr,
                 "dsagent serve: %s: prompt %lld (cache hit %lld), completion %lld "
                 "(reasoning %lld), finish %s%s, %.2f s\n",
                 what, static_cast<long long>(r->usage.prompt_tokens),
                 static_cast<long long>(r->usage.prompt_cache_hit_tokens),
                 static_cast<long long>(r->usage.completion_tokens),
                 static_cast<long long>(r->usage.reasoning_tokens), r->finish_reason.c_str(),
                 r->cancelled ? " (cancelled)" : "", seconds);
  }

  ChatCompleter& completer;
  ServerOptions options;
  Gate gate;
  CancelToken shutdown;
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  std::atomic<int64_t> requests{0}, completed{0}, next_id{0};
};

void ChatServer::Impl::HandleChat(const httplib::Request& req, httplib::Response& res) {
  requests += 1;
  auto parsed = ParseChatRequest(
      req.body, {.max_tokens = options.default_max_tokens, .context_limit = options.context_limit});
  if (!parsed) return SendError(res, parsed.error());
  auto wire = std::make_shared<WireRequest>(std::move(*parsed));
  wire->chat.generate.cancel = shutdown;
  auto prompt = completer.PromptTokens(wire->chat);
  if (!prompt) {
    const bool overflow = prompt.error().kind == ChatError::Kind::kContextOverflow;
    return SendError(res,
                     {400, prompt.error().message,
                      overflow ? "context_length_exceeded" : "invalid_request_error", "messages"});
  }
  char id_buf[48];
  std::snprintf(id_buf, sizeof id_buf, "chatcmpl-%lx-%lld", static_cast<long>(std::time(nullptr)),
                static_cast<long long>(next_id++));
  const std::string id = id_buf;
  const int64_t created = std::time(nullptr);
  const std::string model = wire->model.empty() ? options.model_id : wire->model;
  auto tokens = std::make_shared<std::vector<int32_t>>(std::move(*prompt));

  if (!wire->stream) {
    if (!gate.Acquire({})) {
      return SendError(res, {503, "the server is shutting down", "server_shutting_down", ""});
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto r = completer.Complete(wire->chat, *tokens, {});
    gate.Release();
    completed += 1;
    if (!r) return SendError(res, {500, r.error().message, "internal_error", ""});
    Log("chat", &*r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    res.status = 200;
    res.set_content(CompletionBody(id, created, model, *r, wire->chat.thinking),
                    "application/json");
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream; charset=utf-8",
      [this, wire, tokens, id, created, model](size_t, httplib::DataSink& sink) {
        const auto write = [&sink](const std::string& s) { return sink.write(s.data(), s.size()); };
        // Waiting in line: keep-alive comments, which also notice a client that left.
        if (!gate.Acquire([&] { return write(": keep-alive\n\n"); })) return false;
        const auto t0 = std::chrono::steady_clock::now();
        bool client_ok =
            write(ChunkEvent(id, created, model, {{"role", "assistant"}, {"content", ""}}, ""));
        auto r =
            client_ok
                ? completer.Complete(wire->chat, *tokens,
                                     [&](const StreamingCompletionParser::Delta& d) {
                                       OrderedJson delta = OrderedJson::object();
                                       if (!d.reasoning.empty())
                                         delta["reasoning_content"] = d.reasoning;
                                       if (!d.content.empty()) delta["content"] = d.content;
                                       client_ok = write(ChunkEvent(id, created, model, delta, ""));
                                       return client_ok;
                                     })
                : Expected<ChatResult, ChatError>(
                      MakeUnexpected(ChatError{ChatError::Kind::kInternal, "client disconnected"}));
        gate.Release();
        completed += 1;
        if (!client_ok) {
          Log("chat stream: client disconnected, generation stopped", r ? &*r : nullptr, 0);
          return false;
        }
        if (!r) {
          write("data: " + ErrorBody({500, r.error().message, "internal_error", ""}) + "\n\n");
          sink.done();
          return true;
        }
        Log("chat stream", &*r,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (!r->message.tool_calls.empty()) {
          write(ChunkEvent(id, created, model, {{"tool_calls", ToolCallsDelta(*r)}}, ""));
        }
        write(ChunkEvent(id, created, model, OrderedJson::object(), r->finish_reason));
        if (wire->include_usage) write(UsageChunkEvent(id, created, model, r->usage));
        write("data: [DONE]\n\n");
        sink.done();
        return true;
      });
}

void ChatServer::Impl::HandleModels(httplib::Response& res) const {
  const OrderedJson model = {
      {"id", options.model_id},
      {"object", "model"},
      {"owned_by", "dsagent"},
      {"context_length", options.context_limit > 0
                             ? options.context_limit
                             : completer.model().config().max_position_embeddings}};
  res.set_content(OrderedJson{{"object", "list"}, {"data", OrderedJson::array({model})}}.dump(),
                  "application/json");
}

void ChatServer::Impl::HandleHealth(httplib::Response& res) const {
  int64_t running = 0, waiting = 0;
  gate.Counts(&running, &waiting);
  res.set_content(
      OrderedJson{
          {"status", "ok"}, {"model", options.model_id}, {"running", running}, {"waiting", waiting}}
          .dump(),
      "application/json");
}

ChatServer::ChatServer(ChatCompleter& completer, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(completer, options)) {}

ChatServer::~ChatServer() { Stop(); }

Expected<int, std::string> ChatServer::Start() {
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
  Impl* impl = impl_.get();
  auto& http = impl->http;
  // Generation slots plus room for queued requests and /health.
  const int workers = std::max(1, impl->options.parallel) + 16;
  http.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<size_t>(workers)); };
  http.set_keep_alive_timeout(5);
  http.set_payload_max_length(64 << 20);
  const auto chat = [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleChat(q, s);
  };
  http.Post("/v1/chat/completions", chat);
  http.Post("/chat/completions", chat);
  const auto models = [impl](const httplib::Request&, httplib::Response& s) {
    impl->HandleModels(s);
  };
  http.Get("/v1/models", models);
  http.Get("/models", models);
  http.Get("/health",
           [impl](const httplib::Request&, httplib::Response& s) { impl->HandleHealth(s); });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        SendError(res, {500, "internal error", "internal_error", ""});
      });
  int port = impl->options.port;
  if (port == 0) {
    port = http.bind_to_any_port(impl->options.host);
  } else if (!http.bind_to_port(impl->options.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return MakeUnexpected("cannot listen on " + impl->options.host + ":" +
                          std::to_string(impl->options.port));
  }
  impl->thread = std::thread([impl] {
    impl->http.listen_after_bind();
    impl->listen_returned = true;
  });
  // stop() is a no-op until the accept loop runs (cpp-httplib 0.11): wait for it.
  while (!http.is_running() && !impl->listen_returned) std::this_thread::yield();
  return port;
}

void ChatServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->shutdown.Cancel();
  impl_->gate.Stop();
  impl_->http.stop();
  impl_->thread.join();
}

ChatServer::Stats ChatServer::stats() const {
  Stats s;
  s.requests = impl_->requests;
  s.completed = impl_->completed;
  impl_->gate.Counts(&s.running, &s.waiting);
  return s;
}

}  // namespace dsagent::engine::server
