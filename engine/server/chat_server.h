// ChatServer: `dsagent serve` — an HTTP server over one loaded model that speaks the APIs coding
// tools use, each streamed (SSE) or not, all over the same engine, limits and prefix cache:
//   POST /v1/chat/completions  OpenAI Chat Completions (openai_chat.h)
//   POST /v1/messages          Anthropic Messages (anthropic_messages.h), and
//   POST /v1/messages/count_tokens
//   POST /v1/responses         OpenAI Responses (openai_responses.h)
//   GET  /v1/models, GET /health.
// Each path also answers without the /v1 prefix. Errors come in the envelope of the path's API.
// Up to `parallel` generations run at once; up to `max_queue` further requests wait in line (FIFO
// by arrival), and beyond that a request is refused with 503 and Retry-After. Every request gets
// a CancelToken that fires when its client disconnects (queued, prefilling or decoding: the
// engine stops within one prefill chunk or decode step), when `request_timeout_s` passes (504),
// or when Stop() is called (503). Limits checked before any expensive work: body size (413, from
// Content-Length, before the body is read), prompt tokens (400 naming `messages`). Malformed
// JSON and mistyped fields get 400 naming the field; nothing a client sends can crash the server.
// Headers and body must arrive within total deadlines (read_timeout_s, body_timeout_s).
// A non-loopback `host` requires `api_key` (on everything but /health, as `Authorization: Bearer
// KEY` or Anthropic's `x-api-key: KEY`, compared in constant time); Start() refuses otherwise.
//
// Thread-safety: Start/Stop from one thread; handlers run on the server's own threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/cancel.h"
#include "common/expected.h"
#include "engine/generate/chat_completion.h"

namespace dsagent::engine::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (see Start's result)
  int parallel = 1;
  std::string model_id = "dsagent-local";  // what /v1/models lists
  int64_t context_limit = 0;               // positions; <= 0: max_position_embeddings
  int64_t default_max_tokens = 4096;
  // A request asking for more completion tokens is given this many (<= 0: no cap). Clients such
  // as Claude Code ask for 32000 and cannot be told otherwise.
  int64_t max_tokens_limit = 0;
  // Limits (see the class comment). <= 0 turns a limit off, except max_queue (0: no waiting).
  int max_queue = 64;                 // requests waiting for a slot
  int64_t max_body_bytes = 16 << 20;  // request body (413)
  int64_t max_prompt_tokens = 0;      // prompt tokens, below the context limit (400)
  double request_timeout_s = 600;     // wall time per request, queue included (504)
  // Slow clients (deadline_http_server.h): a request's headers must arrive within
  // read_timeout_s of its first byte, and its body within body_timeout_s of the headers, in total
  // (not per read: a client dripping a byte at a time is cut off too); then the connection closes.
  double read_timeout_s = 15;
  double body_timeout_s = 60;
  // While a streamed request's prompt is computed, a keep-alive (an SSE comment; Anthropic's
  // `ping`) goes out after a prefill chunk once the stream has been silent this long, because
  // clients drop a silent stream (Claude Code after 3 minutes) and retry. 0: after every chunk.
  double prefill_keepalive_s = 10;
  std::string api_key;  // required for a non-loopback host
};

// True for addresses that only this machine can reach: 127.0.0.0/8, ::1, localhost.
bool IsLoopbackHost(const std::string& host);
// Ok when `options` may be served; otherwise why not (a non-loopback host without an api_key).
// Start() checks it; a front end can too, before loading a model.
Expected<Ok, std::string> CheckAccessOptions(const ServerOptions& options);
// a == b in time that depends only on the lengths (for secrets).
bool ConstantTimeEquals(const std::string& a, const std::string& b);

class ChatServer {
 public:
  // `completer` must outlive the server.
  ChatServer(ChatCompleter& completer, const ServerOptions& options);
  ~ChatServer();  // stops and joins

  // Binds and starts serving on a background thread. Returns the bound port. Error: the address
  // cannot be bound, or a non-loopback host without an api_key (each message says why).
  Expected<int, std::string> Start();
  // Stops accepting, cancels running generations and joins the server thread. Idempotent.
  void Stop();

  // The front end's wait while the server runs: returns "" once `cancel` fires, or the model's
  // reason once it can run nothing more (SequenceModel::Lost: a GPU lost to a device fault) and
  // the requests then running or waiting have failed (at most `drain_s` after the loss is
  // seen; their answers are written by the time Stop returns). `dsagent serve` then exits, so
  // that a supervisor restarts it. Polls every 50 ms.
  std::string WaitForCancelOrLoss(const CancelToken& cancel, double drain_s = 10);

  struct Stats {
    int64_t requests = 0, completed = 0, running = 0, waiting = 0;
    int64_t refused_queue_full = 0, cancelled = 0;  // 503s for a full line; requests cancelled
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsagent::engine::server
