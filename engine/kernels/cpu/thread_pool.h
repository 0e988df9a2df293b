// ThreadPool: a fixed set of std::threads running ParallelFor loops. Work is split into contiguous
// index ranges, and every index is computed by exactly one thread with the same arithmetic, so
// results do not depend on the number of threads. The CPU backend's threads (cpu/cpu_ops.h splits
// attention over them); the forward pass's weight products split over the same pool.
//
// A decode step runs ~120-150 loops of a fraction of a millisecond each, with short serial work
// between them. Waking a sleeping worker through the condition variable costs a futex call and a
// scheduler wake-up on every loop, so a worker that has finished spins for a short while
// (`spin`, default 250 us) watching for the next loop before it sleeps, and the caller spins the
// same way for the workers' last chunks before it sleeps on them.
//
// Thread-safety: ParallelFor may be called from one thread at a time (it is not reentrant; a
// nested call from inside a task runs inline).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/kernels/cpu/function_ref.h"

namespace dsagent::engine::kernels::cpu {

class ThreadPool {
 public:
  // `threads` <= 0 means std::thread::hardware_concurrency(). One thread means no workers: all
  // work runs on the caller.
  // `spin`: how long an idle worker (and the caller waiting for the last chunks) watches for
  // work before sleeping; zero sleeps at once.
  static constexpr std::chrono::microseconds kDefaultSpin{250};
  explicit ThreadPool(int threads = 0, std::chrono::microseconds spin = kDefaultSpin);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint ranges covering [0, n), each at least `grain` long (except
  // the last), on the workers and the caller; returns when all are done. `fn` is referenced, not
  // copied (function_ref.h): a loop allocates nothing.
  using RangeFn = FunctionRef<void(int64_t, int64_t)>;
  void ParallelFor(int64_t n, int64_t grain, RangeFn fn);

 private:
  void WorkerLoop();
  // Spins for up to spin_ until done() is true; whether it became true.
  template <class Done>
  bool SpinUntil(Done done) const;

  std::vector<std::thread> workers_;
  const std::chrono::microseconds spin_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const RangeFn* job_ = nullptr;  // the running loop's body (ParallelFor's parameter)
  int64_t job_n_ = 0, job_chunk_ = 0, next_chunk_ = 0, chunks_ = 0;
  // Written under mu_; atomic so that spinning threads may read them without it.
  std::atomic<int64_t> finished_{0};
  std::atomic<uint64_t> generation_{0};  // bumped for every loop, and at shutdown
  std::atomic<bool> stop_{false};
  bool busy_ = false;
};

}  // namespace dsagent::engine::kernels::cpu
