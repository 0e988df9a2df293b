// RequestGate: admits at most `parallel` requests at a time, in arrival order, and lets at most
// `max_waiting` more wait in line; a request beyond that is refused at once (the server answers
// 503 with Retry-After). A waiting request can give up (its client left, its time ran out, the
// server stops); its place is skipped.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "common/cancel.h"

namespace dsagent::engine::server {

class RequestGate {
 public:
  RequestGate(int parallel, int max_waiting);

  // A place in line, then (after Wait) a running slot. Destroying it gives the place up or frees
  // the slot. Must not outlive the gate.
  class Place {
   public:
    ~Place();
    Place(const Place&) = delete;
    // Gives the place up or frees the slot now; the destructor then does nothing.
    void Release();
    Place& operator=(const Place&) = delete;

   private:
    friend class RequestGate;
    Place(RequestGate* gate, uint64_t ticket) : gate_(gate), ticket_(ticket) {}
    RequestGate* gate_;
    uint64_t ticket_;
    bool admitted_ = false, left_ = false;
  };

  // Takes a place in line. Null when `max_waiting` requests already wait beyond the free slots,
  // or the gate is stopped.
  std::unique_ptr<Place> Enter();
  // Blocks until `place` runs: true. False when `cancel` fires or the gate stops first (destroy
  // the place then). `tick`, if set, is called about once a second while waiting (e.g. to send a
  // keep-alive); it runs without the gate's lock.
  bool Wait(Place& place, const CancelToken& cancel, const std::function<void()>& tick = {});
  // Wakes waiters so they look at their cancel tokens again (call after cancelling one).
  void Notify();
  // Refuses new places and wakes every waiter with false. Running requests keep their slots.
  void Stop();

  void Counts(int64_t* running, int64_t* waiting) const;

 private:
  void Leave(Place& place);

  const int parallel_, max_waiting_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ = 0, front_ = 0;
  int64_t running_ = 0, waiting_ = 0;
  std::set<uint64_t> abandoned_;  // tickets given up before their turn
  bool stopping_ = false;
};

}  // namespace dsagent::engine::server
