// The wall-clock limit of one agent run (limits.timeout_s): a thread that fires the run's cancel
// token when the time is up, unless the run ends first. The loop then tells "timed out" from
// "interrupted" by asking fired().
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/cancel.h"

namespace dsagent {

// Owns its thread: the destructor stops and joins it, so the token is never fired after the run.
class RunDeadline {
 public:
  RunDeadline(CancelToken token, std::chrono::seconds after);
  ~RunDeadline();
  RunDeadline(const RunDeadline&) = delete;
  RunDeadline& operator=(const RunDeadline&) = delete;

  bool fired() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  bool fired_ = false;
  std::thread thread_;
};

}  // namespace dsagent
