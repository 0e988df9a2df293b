// ChatServer: `dsagent serve` — an OpenAI-compatible HTTP server over one loaded model.
//   POST /v1/chat/completions (and /chat/completions): streamed (SSE) or not; see openai_chat.h.
//   GET  /v1/models (and /models), GET /health.
// Up to `parallel` generations run at once; further requests wait in line (FIFO by arrival at
// the gate). A client that disconnects mid-stream stops its generation at the next token. Bad
// input gets a 4xx JSON error; nothing a client sends can crash the server.
//
// Thread-safety: Start/Stop from one thread; handlers run on the server's own threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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
};

class ChatServer {
 public:
  // `completer` must outlive the server.
  ChatServer(ChatCompleter& completer, const ServerOptions& options);
  ~ChatServer();  // stops and joins

  // Binds and starts serving on a background thread. Returns the bound port. Error: the address
  // cannot be bound (the message names it).
  Expected<int, std::string> Start();
  // Stops accepting, cancels running generations and joins the server thread. Idempotent.
  void Stop();

  struct Stats {
    int64_t requests = 0, completed = 0, running = 0, waiting = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsagent::engine::server
