// RequestWatch: gives each HTTP request a CancelToken and cancels it when the request's client
// hangs up (the socket of its TCP connection is polled), when its wall-time deadline
// passes, or when the server stops — so queued, prefilling and decoding work all end promptly
// (the engine polls the token between prefill chunks and decode steps). One background thread
// checks every watched request about every 50 ms.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "common/cancel.h"

namespace dsagent::engine::server {

class RequestWatch {
 public:
  enum class Reason { kNone, kClientGone, kTimeout, kShutdown };

  // `on_cancel` runs (on the watch thread) after any request was cancelled, e.g. to wake requests
  // waiting in line.
  explicit RequestWatch(std::function<void()> on_cancel);
  ~RequestWatch();  // stops the thread; does not cancel anything

  // A watched request. Destroy it when the request is done (before its connection closes).
  class Entry {
   public:
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    const CancelToken& cancel() const { return cancel_; }
    // Why it was cancelled (kNone while it was not).
    Reason reason() const { return reason_.load(); }

   private:
    friend class RequestWatch;
    Entry(RequestWatch* watch, int socket, std::chrono::steady_clock::time_point deadline)
        : watch_(watch), socket_(socket), deadline_(deadline) {}
    void Cancel(Reason why);
    RequestWatch* watch_;
    const int socket_;  // -1: the connection was not found (then only deadline and shutdown)
    const std::chrono::steady_clock::time_point deadline_;
    CancelToken cancel_;
    std::atomic<Reason> reason_{Reason::kNone};
  };

  // Watches the request that arrived on the connected socket `socket` (-1: no connection to
  // watch, then only its deadline and shutdown). The caller keeps the socket open until the Entry
  // is destroyed: the watch thread polls it until then. `timeout_seconds` <= 0: no deadline.
  std::unique_ptr<Entry> Watch(int socket, double timeout_seconds);
  // Cancels every watched request (kShutdown), and any watched later.
  void CancelAll();

 private:
  void Run();

  std::function<void()> on_cancel_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<Entry*> entries_;
  bool stopping_ = false, shutdown_ = false;
  std::thread thread_;
};

// True when the peer of connected socket `fd` has closed or reset it. Data the peer sent and
// nobody read yet (a pipelined request) is left in place.
bool PeerHasClosed(int fd);

}  // namespace dsagent::engine::server
