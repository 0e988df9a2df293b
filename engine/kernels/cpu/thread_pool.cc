#include "engine/kernels/cpu/thread_pool.h"

#include <algorithm>

namespace dsagent::engine::kernels::cpu {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int64_t chunks = std::min<int64_t>(max_chunks, 4 * static_cast<int64_t>(size()));
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (workers_.empty() || chunks <= 1 || busy_) {
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
    finished_ = 0;
    ++generation_;
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
    ++finished_;
  }
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [this] { return finished_ == chunks_; });
  job_ = nullptr;
  busy_ = false;
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait(lock, [&] { return stop_ || (job_ != nullptr && generation_ != seen); });
    if (stop_) return;
    seen = generation_;
    while (job_ != nullptr && next_chunk_ < chunks_) {
      const int64_t c = next_chunk_++;
      const auto* fn = job_;
      const int64_t n = job_n_, chunk = job_chunk_;
      lock.unlock();
      (*fn)(c * chunk, std::min(n, (c + 1) * chunk));
      lock.lock();
      if (++finished_ == chunks_) done_.notify_all();
    }
  }
}

}  // namespace dsagent::engine::kernels::cpu
