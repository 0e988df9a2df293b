// The CPU backend's thread pool (cpu/thread_pool.h): every index of a loop is computed exactly
// once and the loop has returned only when all are, whether the workers catch the next loop while
// spinning (back-to-back loops) or sleep between loops (no spin), and the pool shuts down
// cleanly from either state. And FunctionRef (cpu/function_ref.h), the loop body's type.
#include "engine/kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace dsagent::engine::kernels::cpu {
namespace {

using std::chrono::microseconds;

// Runs `loops` ParallelFor calls back to back over n indices and checks each one's coverage.
void ExpectEveryIndexOnceInEveryLoop(ThreadPool& pool, int loops, int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  for (int loop = 0; loop < loops; ++loop) {
    for (auto& h : hits) h.store(0, std::memory_order_relaxed);
    pool.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
      ASSERT_LE(0, begin);
      ASSERT_LT(begin, end);
      ASSERT_LE(end, n);
      for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    // ParallelFor has returned: every index must already be done, exactly once.
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "loop " << loop << " index " << i;
    }
  }
}

TEST(ThreadPoolTest, BackToBackLoopsCoverEveryIndexOnceWithAndWithoutSpinning) {
  for (const microseconds spin : {microseconds{0}, ThreadPool::kDefaultSpin, microseconds{5000}}) {
    for (int threads : {1, 2, 3, 4}) {
      ThreadPool pool(threads, spin);
      EXPECT_EQ(pool.size(), threads);
      ExpectEveryIndexOnceInEveryLoop(pool, 300, 97, 1);    // many small chunks
      ExpectEveryIndexOnceInEveryLoop(pool, 50, 1000, 64);  // grain-sized chunks
      ExpectEveryIndexOnceInEveryLoop(pool, 20, 5, 10);     // one chunk: runs on the caller
    }
  }
}

// The workers really take part (the spin is not a path where the caller does everything): with
// a task that waits until two different threads are inside it, a two-thread loop completes only
// if a worker runs a chunk while the caller runs another.
TEST(ThreadPoolTest, AWorkerTakesChunksWhileTheCallerDoes) {
  for (const microseconds spin : {microseconds{0}, ThreadPool::kDefaultSpin}) {
    ThreadPool pool(2, spin);
    for (int loop = 0; loop < 20; ++loop) {
      std::atomic<int> inside{0};
      std::set<std::thread::id> ids;
      std::mutex ids_mu;
      pool.ParallelFor(2, 1, [&](int64_t, int64_t) {
        {
          std::lock_guard<std::mutex> lock(ids_mu);
          ids.insert(std::this_thread::get_id());
        }
        inside.fetch_add(1);
        while (inside.load() < 2) std::this_thread::yield();  // both chunks at once
      });
      EXPECT_EQ(ids.size(), 2u) << "loop " << loop;
    }
  }
}

// Destroying the pool right after a loop (workers spinning) or long after (workers asleep) joins
// every worker: the test finishing is the check (ctest's timeout catches a hang).
TEST(ThreadPoolTest, ShutsDownWhileWorkersSpinOrSleep) {
  for (const microseconds spin : {microseconds{0}, microseconds{1000000}}) {
    for (int round = 0; round < 20; ++round) {
      ThreadPool pool(3, spin);
      std::atomic<int64_t> sum{0};
      pool.ParallelFor(64, 1, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
      EXPECT_EQ(sum.load(), 64);
    }
  }
}

// ---- FunctionRef ---------------------------------------------------------------------------

int64_t CallTwice(FunctionRef<int64_t(int64_t)> f, int64_t x) { return f(f(x)); }

TEST(FunctionRefTest, CallsTheReferencedObjectItselfNotACopy) {
  int64_t calls = 0;
  const auto add_and_count = [&calls](int64_t x) {
    ++calls;
    return x + 10;
  };
  EXPECT_EQ(CallTwice(add_and_count, 1), 21);
  EXPECT_EQ(calls, 2);
  // A stateful functor: the calls change the caller's object, so it is not copied.
  struct Counter {
    int64_t n = 0;
    int64_t operator()(int64_t x) { return x + ++n; }
  } counter;
  EXPECT_EQ(CallTwice(counter, 0), 3);  // 0 + 1, then 1 + 2
  EXPECT_EQ(counter.n, 2);
}

TEST(FunctionRefTest, ParallelForRunsALargeCaptureOverEveryIndexOnce) {
  // A lambda capturing far more than std::function's small buffer, through the pool.
  ThreadPool pool(3, microseconds(0));
  std::vector<int> hits(10000, 0);
  int64_t a = 1, b = 2, c = 3, d = 4, e = 5;
  pool.ParallelFor(static_cast<int64_t>(hits.size()), 7, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      hits[static_cast<size_t>(i)] += static_cast<int>(a + b + c + d + e) - 14;
  });
  EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), static_cast<int64_t>(hits.size()));
}

}  // namespace
}  // namespace dsagent::engine::kernels::cpu
