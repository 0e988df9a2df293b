// A ChatServer over the tiny checkpoint and its test tokenizer on a loopback port, with a client
// connected to it: the fixture of the server tests that speak HTTP to a real socket.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>

#include "engine/generate/chat_completion.h"
#include "engine/server/chat_server.h"
#include "tests/engine/generate/tiny_model.h"
#include "tests/support/hang_guard.h"

namespace dsagent::engine::testing {

class TinyChatServer {
 public:
  // Starts the server with `options` (host and port are set here: 127.0.0.1, any free port) and
  // connects the client, whose read timeout is `read_timeout_s` (a hang guard: longer in sanitizer
  // builds, HangGuardSeconds). A failed start fails the test.
  void Start(server::ServerOptions options, int read_timeout_s) {
    options.host = "127.0.0.1";
    options.port = 0;
    completer_ = std::make_unique<ChatCompleter>(TinySequenceModel(), TinyTokenizer(), &cache_);
    server_ = std::make_unique<server::ChatServer>(*completer_, options);
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(dsagent::testing::HangGuardSeconds(read_timeout_s), 0);
  }

  httplib::Client& client() { return *client_; }
  server::ChatServer& server() { return *server_; }

 private:
  InMemoryPrefixCache cache_;
  std::unique_ptr<ChatCompleter> completer_;
  std::unique_ptr<server::ChatServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace dsagent::engine::testing
