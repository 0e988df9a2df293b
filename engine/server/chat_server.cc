#include "engine/server/chat_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <semaphore>
#include <thread>

#include "engine/server/anthropic_messages.h"
#include "engine/server/deadline_http_server.h"
#include "engine/server/model_list.h"
#include "engine/server/openai_chat.h"
#include "engine/server/openai_responses.h"
#include "engine/server/request_gate.h"
#include "engine/server/request_watch.h"

namespace dsagent::engine::server {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kListenBacklog = 1024;

void SendError(const WireFormat& format, httplib::Response& res, const WireError& e) {
  res.status = e.status;
  // The OpenAI and Anthropic SDKs retry a 503 unless this header says not to; no retry brings a
  // lost GPU back.
  if (e.code == kEngineUnavailable) res.set_header("x-should-retry", "false");
  res.set_content(format.ErrorBody(e), "application/json");
}

// Which API a path belongs to, for requests that fail before (or instead of) their handler.
enum class Api { kChat, kMessages, kResponses };
Api ApiOf(const std::string& path) {
  if (path.rfind("/v1/messages", 0) == 0 || path.rfind("/messages", 0) == 0 ||
      path.rfind("/anthropic/", 0) == 0) {
    return Api::kMessages;
  }
  if (path.rfind("/v1/responses", 0) == 0 || path.rfind("/responses", 0) == 0) {
    return Api::kResponses;
  }
  return Api::kChat;
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

Expected<Ok, std::string> CheckAccessOptions(const ServerOptions& o) {
  if (IsLoopbackHost(o.host) || !o.api_key.empty()) return Ok{};
  return MakeUnexpected(
      "refusing to listen on " + o.host +
      " without an API key: a non-loopback address lets other machines use the model; pass "
      "--api-key KEY (or set DSAGENT_SERVE_API_KEY), or listen on 127.0.0.1");
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

struct ChatServer::Impl {
  Impl(ChatCompleter& c, const ServerOptions& o)
      : completer(c), options(o), gate(o.parallel, o.max_queue), watch([this] { gate.Notify(); }) {}

  // A completion in any wire format: parse, gate, tokenize, generate, answer or stream.
  void HandleCompletion(const WireFormat& format, const httplib::Request& req,
                        httplib::Response& res);
  // POST /v1/messages/count_tokens: the prompt's token count, without generating.
  void HandleCountTokens(const httplib::Request& req, httplib::Response& res);
  const WireFormat& FormatFor(const std::string& path) const {
    switch (ApiOf(path)) {
      case Api::kMessages:
        return messages_format;
      case Api::kResponses:
        return responses_format;
      default:
        return chat_format;
    }
  }
  void SendError(const std::string& path, httplib::Response& res, const WireError& e) const {
    server::SendError(FormatFor(path), res, e);
  }
  // GET /v1/models[/ID]: OpenAI's shape, or Anthropic's for Anthropic clients (model_list.h).
  void HandleModels(const httplib::Request& req, httplib::Response& res) const;
  void HandleHealth(httplib::Response& res) const;
  // A failed generation's error, logged ("<what>: failed: <message>"): 503 engine_unavailable
  // when the model is lost (LostError), else 500 with the error's message.
  WireError GenerationError(const std::string& what, const ChatError& e) const;
  // What a request gets from a model that can run nothing more (SequenceModel::Lost): 503. The
  // first call logs the loss (the operator's one line about it).
  WireError LostError(std::string lost) const;
  // Authorization and Content-Length, before the body is read. True when answered (refused).
  bool Refuse(const httplib::Request& req, httplib::Response& res) const;
  // The error for a request whose work was cancelled (no client left to tell: status 499).
  WireError CancelledError(RequestWatch::Reason why) const;
  // Seconds a refused client should wait: the line ahead of it at the average request time.
  int RetryAfterSeconds() const;
  // PromptTokens with at most `parallel` prompts tokenized at once: merging a huge single-piece
  // prompt takes ~40 bytes of memory per byte of text for a moment, so a burst of them must not
  // all run together. Waiting for a turn ends when the request is cancelled (kCancelled).
  Expected<std::vector<int32_t>, ChatError> TokenizePrompt(const ChatRequest& request);
  // The error for a prompt that did not tokenize or is over --max-prompt-tokens (status 0: ok).
  WireError CheckPrompt(const Expected<std::vector<int32_t>, ChatError>& prompt) const;
  RequestDefaults Defaults() const {
    return {.max_tokens = options.default_max_tokens,
            .context_limit = options.context_limit,
            .max_tokens_limit = options.max_tokens_limit};
  }
  void Finished(double seconds, bool cancelled);
  void Log(const char* what, const ChatResult* r, double seconds) const {
    if (r == nullptr) {
      std::fprintf(stderr, "dsagent serve: %s\n", what);
      return;
    }
    // Speculative decoding: what it drafted and kept, or why it did not run.
    std::string speculation;
    if (r->generation.drafted > 0) {
      char rate[64];
      std::snprintf(rate, sizeof rate, "%.1f%%", 100.0 * r->generation.AcceptanceRate());
      speculation = ", speculative: drafted " + std::to_string(r->generation.drafted) +
                    ", accepted " + std::to_string(r->generation.accepted) + " (" + rate + ")";
    } else if (!r->generation.speculative_off.empty()) {
      speculation = ", speculative decoding off: " + r->generation.speculative_off;
    }
    std::fprintf(stderr,
                 "dsagent serve: %s: prompt %lld (cache hit %lld), completion %lld "
                 "(reasoning %lld), finish %s%s, %.2f s%s\n",
                 what, static_cast<long long>(r->usage.prompt_tokens),
                 static_cast<long long>(r->usage.prompt_cache_hit_tokens),
                 static_cast<long long>(r->usage.completion_tokens),
                 static_cast<long long>(r->usage.reasoning_tokens), r->finish_reason.c_str(),
                 r->cancelled ? " (cancelled)" : "", seconds, speculation.c_str());
  }

  ChatCompleter& completer;
  ServerOptions options;
  // When this server started (unix seconds): the `created` of the model it lists.
  const int64_t started_at = static_cast<int64_t>(std::time(nullptr));
  OpenAIChatFormat chat_format;
  AnthropicMessagesFormat messages_format;
  OpenAIResponsesFormat responses_format;
  RequestGate gate;
  RequestWatch watch;
  DeadlineHttpServer http{ReadDeadlines{
      .headers = std::chrono::milliseconds(static_cast<int64_t>(
          1000 * std::max(0.001, options.read_timeout_s))),
      .body = std::chrono::milliseconds(static_cast<int64_t>(
          1000 * std::max(0.001, options.body_timeout_s)))}};
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  std::atomic<int64_t> requests{0}, completed{0}, next_id{0}, refused_queue_full{0}, cancelled{0};
  mutable std::atomic<bool> told_lost{false};  // LostError logged the loss
  std::atomic<double> mean_seconds{1.0};
  std::counting_semaphore<1 << 16> tokenizing{std::clamp(
      options.parallel, 1, 1 << 16)};  // moving average of a completed request's wall time
};

bool ChatServer::Impl::Refuse(const httplib::Request& req, httplib::Response& res) const {
  if (!options.api_key.empty() && req.path != "/health") {
    // OpenAI clients send `Authorization: Bearer KEY`; Anthropic's send `x-api-key: KEY` (or the
    // Bearer form with ANTHROPIC_AUTH_TOKEN). Either header carries the same --api-key.
    const bool bearer_ok =
        ConstantTimeEquals(req.get_header_value("Authorization"), "Bearer " + options.api_key);
    const bool x_api_key_ok =
        ConstantTimeEquals(req.get_header_value("x-api-key"), options.api_key);
    if (!bearer_ok && !x_api_key_ok) {
      res.set_header("WWW-Authenticate", "Bearer");
      SendError(req.path, res,
                {401, "missing or wrong API key (Authorization: Bearer KEY, or x-api-key: KEY)",
                 "invalid_api_key", ""});
      return true;
    }
  }
  if (options.max_body_bytes > 0 && req.has_header("Content-Length")) {
    const std::string length = req.get_header_value("Content-Length");
    int64_t bytes = 0;
    const auto parsed = std::from_chars(length.data(), length.data() + length.size(), bytes);
    const bool too_long = parsed.ec == std::errc::result_out_of_range ||
                          (parsed.ec == std::errc() && bytes > options.max_body_bytes);
    if (too_long) {
      SendError(req.path, res,
                {413,
                 "the request body is " + length + " bytes; this server accepts at most " +
                     std::to_string(options.max_body_bytes) + " (dsagent serve --max-body)",
                 "request_too_large", ""});
      res.set_header("Connection", "close");
      return true;
    }
  }
  return false;
}

WireError ChatServer::Impl::CancelledError(RequestWatch::Reason why) const {
  switch (why) {
    case RequestWatch::Reason::kTimeout:
      return {504,
              "the request took longer than this server's limit of " +
                  std::to_string(static_cast<int64_t>(options.request_timeout_s)) +
                  " s (dsagent serve --request-timeout)",
              "request_timeout", ""};
    case RequestWatch::Reason::kShutdown:
      return {503, "the server is shutting down", "server_shutting_down", ""};
    default:
      return {499, "the client closed the connection", "client_closed_request", ""};
  }
}

Expected<std::vector<int32_t>, ChatError> ChatServer::Impl::TokenizePrompt(
    const ChatRequest& request) {
  while (!tokenizing.try_acquire_for(std::chrono::milliseconds(50))) {
    if (request.generate.cancel.IsCancelled()) {
      return MakeUnexpected(ChatError{ChatError::Kind::kCancelled, "cancelled"});
    }
  }
  auto prompt = completer.PromptTokens(request);
  tokenizing.release();
  return prompt;
}

int ChatServer::Impl::RetryAfterSeconds() const {
  int64_t running = 0, waiting = 0;
  gate.Counts(&running, &waiting);
  const double line = static_cast<double>(running + waiting) / std::max(1, options.parallel);
  return static_cast<int>(std::clamp(std::ceil(mean_seconds.load() * line), 1.0, 60.0));
}

void ChatServer::Impl::Finished(double seconds, bool was_cancelled) {
  completed += 1;
  if (was_cancelled) {
    cancelled += 1;
    return;
  }
  double m = mean_seconds.load();
  while (!mean_seconds.compare_exchange_weak(m, 0.8 * m + 0.2 * seconds)) {
  }
}

void ChatServer::Impl::HandleCompletion(const WireFormat& format, const httplib::Request& req,
                                        httplib::Response& res) {
  requests += 1;
  const auto t0 = Clock::now();
  const auto send_error = [&](const WireError& e) { server::SendError(format, res, e); };
  std::shared_ptr<RequestWatch::Entry> watched =
      watch.Watch(DeadlineHttpServer::CurrentSocket(), options.request_timeout_s);
  auto parsed = format.Parse(req.body, Defaults());
  if (!parsed) return send_error(parsed.error());
  if (std::string lost = completer.model().Lost(); !lost.empty()) {
    return send_error(LostError(std::move(lost)));
  }
  auto wire = std::make_shared<WireRequest>(std::move(*parsed));
  wire->chat.generate.cancel = watched->cancel();
  std::shared_ptr<RequestGate::Place> place = gate.Enter();
  if (!place) {
    refused_queue_full += 1;
    res.set_header("Retry-After", std::to_string(RetryAfterSeconds()));
    return send_error({503,
                       "the server is busy: " + std::to_string(options.max_queue) +
                           " requests are already waiting (dsagent serve --max-queue)",
                       "server_busy", ""});
  }
  auto prompt = TokenizePrompt(wire->chat);
  if (!prompt && prompt.error().kind == ChatError::Kind::kCancelled) {
    Finished(SecondsSince(t0), true);
    return send_error(CancelledError(watched->reason()));
  }
  if (auto bad = CheckPrompt(prompt); bad.status != 0) return send_error(bad);
  char id_buf[64];
  std::snprintf(id_buf, sizeof id_buf, "%s%lx%04llx", format.id_prefix(),
                static_cast<long>(std::time(nullptr)), static_cast<long long>(next_id++));
  const ResponseInfo info{.id = id_buf,
                          .created = std::time(nullptr),
                          .model = wire->model.empty() ? options.model_id : wire->model};
  auto tokens = std::make_shared<std::vector<int32_t>>(std::move(*prompt));
  const std::string what = format.name();

  if (!wire->stream) {
    if (!gate.Wait(*place, watched->cancel())) {
      Finished(SecondsSince(t0), true);
      return send_error(CancelledError(watched->reason()));
    }
    auto r = completer.Complete(wire->chat, *tokens, {});
    place->Release();
    Finished(SecondsSince(t0), !r || r->cancelled);
    if (!r) return send_error(GenerationError(what, r.error()));
    if (r->cancelled) {
      Log((what + ": cancelled").c_str(), &*r, SecondsSince(t0));
      return send_error(CancelledError(watched->reason()));
    }
    Log(what.c_str(), &*r, SecondsSince(t0));
    res.status = 200;
    res.set_content(format.Body(*wire, info, *r), "application/json");
    return;
  }

  std::shared_ptr<WireStream> stream = format.Stream(*wire, info);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream; charset=utf-8",
      [this, wire, tokens, stream, what, watched, place, t0](size_t, httplib::DataSink& sink) {
        const auto write = [&sink](const std::string& s) {
          return s.empty() || sink.write(s.data(), s.size());
        };
        const auto fail = [&](const WireError& e) {
          write(stream->Error(e));
          sink.done();
          return true;
        };
        // Waiting in line: keep-alives keep proxies and client timeouts at bay.
        if (!gate.Wait(*place, watched->cancel(), [&] { write(stream->KeepAlive()); })) {
          Finished(SecondsSince(t0), true);
          return fail(CancelledError(watched->reason()));
        }
        bool client_ok = true;
        // A long prompt computes for minutes before the first token; clients drop a stream that
        // stays silent that long (Claude Code after 3 minutes) and retry. Keep-alives between
        // prefill chunks, at most one per options.prefill_keepalive_s, hold it open.
        ChatRequest chat = wire->chat;
        auto last_write = Clock::now();
        const auto keepalive_every = std::chrono::duration<double>(options.prefill_keepalive_s);
        chat.generate.on_prefill_chunk = [&] {
          const auto now = Clock::now();
          if (client_ok && now - last_write >= keepalive_every) {
            client_ok = write(stream->KeepAlive());
            last_write = now;
          }
        };
        auto r = completer.Complete(
            chat, *tokens,
            [&](const StreamingCompletionParser::Delta& d) {
              client_ok = client_ok && write(stream->Delta(d));
              return client_ok;
            },
            [&](const ChatUsage& prompt_usage) {
              client_ok = client_ok && write(stream->Begin(prompt_usage));
            });
        place->Release();  // the slot is free as soon as generation ends
        Finished(SecondsSince(t0), !r || r->cancelled);
        if (!client_ok) {
          Log((what + " stream: client disconnected, generation stopped").c_str(),
              r ? &*r : nullptr, 0);
          return false;
        }
        if (!r) return fail(GenerationError(what + " stream", r.error()));
        if (r->cancelled) {
          Log((what + " stream: cancelled").c_str(), &*r, SecondsSince(t0));
          return fail(CancelledError(watched->reason()));
        }
        Log((what + " stream").c_str(), &*r, SecondsSince(t0));
        write(stream->End(*r));
        sink.done();
        return true;
      });
}

void ChatServer::Impl::HandleCountTokens(const httplib::Request& req, httplib::Response& res) {
  const auto send_error = [&](const WireError& e) { server::SendError(messages_format, res, e); };
  auto parsed = messages_format.Parse(req.body, Defaults());
  if (!parsed) return send_error(parsed.error());
  std::shared_ptr<RequestWatch::Entry> watched =
      watch.Watch(DeadlineHttpServer::CurrentSocket(), options.request_timeout_s);
  parsed->chat.generate.cancel = watched->cancel();
  auto prompt = TokenizePrompt(parsed->chat);
  if (!prompt && prompt.error().kind == ChatError::Kind::kCancelled) {
    return send_error(CancelledError(watched->reason()));
  }
  if (auto bad = CheckPrompt(prompt); bad.status != 0) return send_error(bad);
  res.set_content(DumpJson({{"input_tokens", prompt->size()}}), "application/json");
}

WireError ChatServer::Impl::CheckPrompt(
    const Expected<std::vector<int32_t>, ChatError>& prompt) const {
  if (!prompt) {
    const bool overflow = prompt.error().kind == ChatError::Kind::kContextOverflow;
    return {400, prompt.error().message,
            overflow ? "context_length_exceeded" : "invalid_request_error", "messages"};
  }
  if (options.max_prompt_tokens > 0 &&
      static_cast<int64_t>(prompt->size()) > options.max_prompt_tokens) {
    return {400,
            "the prompt is " + std::to_string(prompt->size()) +
                " tokens; this server accepts at most " +
                std::to_string(options.max_prompt_tokens) + " (dsagent serve --max-prompt-tokens)",
            "context_length_exceeded", "messages"};
  }
  return {0, "", "", ""};
}

void ChatServer::Impl::HandleModels(const httplib::Request& req, httplib::Response& res) const {
  const ServedModel model{
      .id = options.model_id,
      .context_length = options.context_limit > 0
                            ? options.context_limit
                            : completer.model().config().max_position_embeddings,
      .created = started_at};
  const bool anthropic =
      WantsAnthropicModelList(req.has_header("anthropic-version"), req.has_header("x-api-key"));
  OrderedJson body;
  if (req.matches.size() > 1) {  // /v1/models/ID
    if (req.matches[1].str() != model.id) {
      const WireError e{
          404, "no model '" + req.matches[1].str() + "'; this server offers '" + model.id + "'",
          anthropic ? "not_found_error" : "model_not_found", "model"};
      server::SendError(anthropic ? static_cast<const WireFormat&>(messages_format)
                                  : static_cast<const WireFormat&>(chat_format),
                        res, e);
      return;
    }
    body = anthropic ? AnthropicModel(model) : OpenAiModel(model);
  } else {
    body = anthropic ? AnthropicModelList(model) : OpenAiModelList(model);
  }
  res.set_content(body.dump(), "application/json");
}

void ChatServer::Impl::HandleHealth(httplib::Response& res) const {
  int64_t running = 0, waiting = 0;
  gate.Counts(&running, &waiting);
  OrderedJson body{
      {"status", "ok"}, {"model", options.model_id}, {"running", running}, {"waiting", waiting}};
  // A model that can run nothing more (a lost GPU): unhealthy, so that a supervisor restarts it.
  if (std::string lost = completer.model().Lost(); !lost.empty()) {
    res.status = 503;
    body["status"] = "error";
    body["error"] = std::move(lost);
  }
  res.set_content(body.dump(), "application/json");
}

WireError ChatServer::Impl::GenerationError(const std::string& what, const ChatError& e) const {
  Log((what + ": failed: " + e.message).c_str(), nullptr, 0);
  if (std::string lost = completer.model().Lost(); !lost.empty()) return LostError(std::move(lost));
  return {500, e.message, "internal_error", ""};
}

WireError ChatServer::Impl::LostError(std::string lost) const {
  if (!told_lost.exchange(true)) {
    Log((lost + "; every request gets 503 and /health too until a restart").c_str(), nullptr, 0);
  }
  return {503, std::move(lost), kEngineUnavailable, ""};
}

ChatServer::ChatServer(ChatCompleter& completer, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(completer, options)) {}

ChatServer::~ChatServer() { Stop(); }

Expected<int, std::string> ChatServer::Start() {
  Impl* impl = impl_.get();
  const ServerOptions& o = impl->options;
  if (auto allowed = CheckAccessOptions(o); !allowed) return MakeUnexpected(allowed.error());
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
  auto& http = impl->http;
  // Running and queued requests each hold a worker; a few more answer /health and refusals.
  const int workers = std::max(1, o.parallel) + std::max(0, o.max_queue) + 8;
  http.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<size_t>(workers)); };
  if (o.max_body_bytes > 0) http.set_payload_max_length(static_cast<size_t>(o.max_body_bytes));
  // Streamed chunks are small: with Nagle's algorithm each one waits for the ACK of the last,
  // which a client's delayed ACK holds back up to 40 ms once a connection is reused.
  http.set_tcp_nodelay(true);
  http.set_pre_routing_handler([impl](const httplib::Request& q, httplib::Response& s) {
    DeadlineHttpServer::HeadersReceived();  // httplib reads the body after this handler
    return impl->Refuse(q, s) ? httplib::Server::HandlerResponse::Handled
                              : httplib::Server::HandlerResponse::Unhandled;
  });
  const auto chat = [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleCompletion(impl->chat_format, q, s);
  };
  http.Post("/v1/chat/completions", chat);
  http.Post("/chat/completions", chat);
  const auto messages = [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleCompletion(impl->messages_format, q, s);
  };
  http.Post("/v1/messages", messages);
  http.Post("/messages", messages);
  // DeepSeek's own layout (https://api.deepseek.com/anthropic as an Anthropic SDK's base URL; the
  // deepseek-anthropic provider kind), so a client set up for DeepSeek needs only the host changed.
  http.Post("/anthropic/v1/messages", messages);
  const auto count = [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleCountTokens(q, s);
  };
  http.Post("/v1/messages/count_tokens", count);
  http.Post("/messages/count_tokens", count);
  http.Post("/anthropic/v1/messages/count_tokens", count);
  const auto responses = [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleCompletion(impl->responses_format, q, s);
  };
  http.Post("/v1/responses", responses);
  http.Post("/responses", responses);
  const auto models = [impl](const httplib::Request& q, httplib::Response& s) {
    impl->HandleModels(q, s);
  };
  http.Get("/v1/models", models);
  http.Get("/models", models);
  http.Get("/v1/models/(.+)", models);
  http.Get("/models/(.+)", models);
  http.Get("/health",
           [impl](const httplib::Request&, httplib::Response& s) { impl->HandleHealth(s); });
  http.set_exception_handler(
      [impl](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        impl->SendError(req.path, res, {500, "internal error", "internal_error", ""});
      });
  // httplib's own refusals (413 for a chunked body over the limit, 400 for bad framing, 404)
  // get a JSON error body like ours.
  http.set_error_handler([impl](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    WireError e{res.status, "bad request", "bad_request", ""};
    if (res.status == 413) {
      e = {413, "the request body is too large", "request_too_large", ""};
      // httplib caps form-encoded bodies at 8 KiB (curl -d sends that type by default).
      if (req.get_header_value("Content-Type") == "application/x-www-form-urlencoded") {
        e.message += " for Content-Type application/x-www-form-urlencoded: send application/json";
      }
    } else if (res.status == 404) {
      e = {404, "no such endpoint: " + req.path, "not_found", ""};
    }
    impl->SendError(req.path, res, e);
  });
  // cpp-httplib 0.11 listens with a backlog of 5: a burst of clients overflows it and the kernel
  // resets connections. Keep the listening socket and listen again with a deep backlog after the
  // bind (Linux updates the backlog of a listening socket).
  std::atomic<int> listener{-1};
  http.set_socket_options([&listener](socket_t sock) {
    httplib::default_socket_options(sock);
    listener = sock;
  });
  int port = o.port;
  if (port == 0) {
    port = http.bind_to_any_port(o.host);
  } else if (!http.bind_to_port(o.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return MakeUnexpected("cannot listen on " + o.host + ":" + std::to_string(o.port));
  }
  if (listener >= 0) ::listen(listener, kListenBacklog);
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
  impl_->watch.CancelAll();
  impl_->gate.Stop();
  impl_->http.stop();
  impl_->thread.join();
}

std::string ChatServer::WaitForCancelOrLoss(const CancelToken& cancel, double drain_s) {
  constexpr auto kPoll = std::chrono::milliseconds(50);
  std::string lost;
  while (!cancel.IsCancelled() && (lost = impl_->completer.model().Lost()).empty()) {
    std::this_thread::sleep_for(kPoll);
  }
  if (lost.empty()) return "";
  // Requests that were generating or waiting fail at their next forward pass (and new ones at
  // once): let them have their 503s before the front end stops the server.
  const auto until = Clock::now() + std::chrono::duration<double>(drain_s);
  while (!cancel.IsCancelled() && Clock::now() < until) {
    int64_t running = 0, waiting = 0;
    impl_->gate.Counts(&running, &waiting);
    if (running == 0 && waiting == 0) break;
    std::this_thread::sleep_for(kPoll);
  }
  return lost;
}

ChatServer::Stats ChatServer::stats() const {
  Stats s;
  s.requests = impl_->requests;
  s.completed = impl_->completed;
  s.refused_queue_full = impl_->refused_queue_full;
  s.cancelled = impl_->cancelled;
  impl_->gate.Counts(&s.running, &s.waiting);
  return s;
}

}  // namespace dsagent::engine::server
