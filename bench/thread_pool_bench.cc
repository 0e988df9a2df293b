// thread_pool_bench: what one ParallelFor costs the CPU backend's pool (kernels/cpu/thread_pool.h)
// beyond its work, with idle workers sleeping at once (--spin 0) or spinning first (the default).
// A decode step runs ~120-150 loops of a fraction of a millisecond each; this times loops of that
// shape: `chunks` chunks of `work_us` of arithmetic each, back to back, with `gap_us` of serial
// work on the caller between loops (the norms and mixing a step does between products).
//
//   thread_pool_bench [--threads N] [--loops N] [--work-us N] [--gap-us N] [--spin-us N]
//
// Prints, for spin 0 and the given one (default: the pool's), the mean wall time per loop and the overhead over the
// loop's own work split perfectly over the threads, and the process CPU time per loop.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "engine/kernels/cpu/thread_pool.h"

namespace {

using dsagent::engine::kernels::cpu::ThreadPool;
using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// About `us` microseconds of dependent arithmetic (calibrated below), returning its result so
// that it is not optimised away.
volatile double g_sink;
int64_t g_iters_per_us = 1;
void Work(int64_t us) {
  double x = 1.0;
  for (int64_t i = 0; i < us * g_iters_per_us; ++i) x = x * 1.0000001 + 1e-9;
  g_sink = x;
}
void Calibrate() {
  const int64_t n = 20000000;
  g_iters_per_us = n;
  const auto t = Clock::now();
  Work(1);
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
  g_iters_per_us = static_cast<int64_t>(static_cast<double>(n) / us);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  int64_t loops = 3000, work_us = 100, gap_us = 50;
  std::chrono::microseconds spin = ThreadPool::kDefaultSpin;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (flag == "--threads" && v >= 1) {
      threads = static_cast<int>(v);
    } else if (flag == "--loops" && v >= 1) {
      loops = v;
    } else if (flag == "--work-us" && v >= 1) {
      work_us = v;
    } else if (flag == "--gap-us" && v >= 0) {
      gap_us = v;
    } else if (flag == "--spin-us" && v >= 0) {
      spin = std::chrono::microseconds{v};
    } else {
      std::fprintf(stderr,
                   "usage: thread_pool_bench [--threads N] [--loops N] [--work-us N] "
                   "[--gap-us N] [--spin-us N]\n");
      return 2;
    }
  }
  Calibrate();
  const int64_t chunks = threads;  // one chunk of work_us per thread
  std::printf("threads %d, %" PRId64 " loops of %" PRId64 " chunks x %" PRId64 " us, %" PRId64
              " us serial between loops\n",
              threads, loops, chunks, work_us, gap_us);
  for (const auto s : {std::chrono::microseconds{0}, spin}) {
    ThreadPool pool(threads, s);
    const double cpu0 = CpuSeconds();
    const auto t0 = Clock::now();
    for (int64_t l = 0; l < loops; ++l) {
      pool.ParallelFor(chunks, 1, [&](int64_t b, int64_t e) { Work((e - b) * work_us); });
      Work(gap_us);
    }
    const double wall_us =
        std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / loops;
    const double cpu_us = (CpuSeconds() - cpu0) * 1e6 / static_cast<double>(loops);
    std::printf("spin %4lld us: %.1f us per loop (ideal %lld: overhead %.1f us), CPU %.1f us\n",
                static_cast<long long>(s.count()), wall_us,
                static_cast<long long>(work_us + gap_us),
                wall_us - static_cast<double>(work_us + gap_us), cpu_us);
  }
  return 0;
}
