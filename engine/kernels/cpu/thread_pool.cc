#include "engine/kernels/cpu/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DSAGENT_SPIN_PAUSE() _mm_pause()
#else
#define DSAGENT_SPIN_PAUSE() ((void)0)
#endif

namespace dsagent::engine::kernels::cpu {

ThreadPool::ThreadPool(int threads, std::chrono::microseconds spin) : spin_(spin) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);  // ends a worker's spin
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

template <class Done>
bool ThreadPool::SpinUntil(Done done) const {
  if (spin_.count() <= 0) return done();
  const auto deadline = std::chrono::steady_clock::now() + spin_;
  for (;;) {
    // The clock is read once every 64 checks: a check is a few nanoseconds, the clock more.
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      DSAGENT_SPIN_PAUSE();  // lets the sibling hyperthread run and saves power while spinning
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, RangeFn fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int64_t chunks = std::min<int64_t>(max_chunks, 4 * static_cast<int64_t>(size()));
  if (workers_.empty() || chunks <= 1) {  // one chunk: on the caller, without the lock
    fn(0, n);
    return;
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (busy_) {
      lock.unlock();
      fn(0, n);
      return;
    }
    busy_ = true;
    job_ = &fn;
    job_n_ = n;
    job_chunk_ = (n + chunks - 1) / chunks;
    chunks_ = (n + job_chunk_ - 1) / job_chunk_;
    next_chunk_ = 0;
    finished_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  // The caller works too.
  for (;;) {
    int64_t c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_chunk_ >= chunks_) break;
      c = next_chunk_++;
    }
    fn(c * job_chunk_, std::min(n, (c + 1) * job_chunk_));
    std::lock_guard<std::mutex> lock(mu_);
    finished_.fetch_add(1, std::memory_order_relaxed);
  }
  const int64_t all = chunks_;  // set under mu_ above; only this thread changes it
  SpinUntil([&] { return finished_.load(std::memory_order_acquire) == all; });
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return finished_.load(std::memory_order_relaxed) == all; });
  job_ = nullptr;
  busy_ = false;
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    // Watch for the next loop (or shutdown) for a while before sleeping on the condition.
    SpinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; });
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait(lock, [&] {
      return stop_.load(std::memory_order_relaxed) ||
             (job_ != nullptr && generation_.load(std::memory_order_relaxed) != seen);
    });
    if (stop_) return;
    seen = generation_.load(std::memory_order_relaxed);
    while (job_ != nullptr && next_chunk_ < chunks_) {
      const int64_t c = next_chunk_++;
      const auto* fn = job_;
      const int64_t n = job_n_, chunk = job_chunk_;
      lock.unlock();
      (*fn)(c * chunk, std::min(n, (c + 1) * chunk));
      lock.lock();
      if (finished_.fetch_add(1, std::memory_order_release) + 1 == chunks_) done_.notify_all();
    }
  }
}

}  // namespace dsagent::engine::kernels::cpu
