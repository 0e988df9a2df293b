// Waiting on a ChatServer's counters in tests: the server updates them from its own threads, so a
// test that needs a state (a request finished, one is waiting) polls for it.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "engine/server/chat_server.h"

namespace dsagent::engine::testing {

// Polls chat_server.stats() every 10 ms until `done` holds (true) or two minutes pass (false). The
// deadline only keeps a broken server from hanging the suite; it is no measure of speed.
inline bool WaitForStats(const server::ChatServer& chat_server,
                         const std::function<bool(const server::ChatServer::Stats&)>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (std::chrono::steady_clock::now() < until) {
    if (done(chat_server.stats())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace dsagent::engine::testing
