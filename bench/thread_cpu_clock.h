// The calling thread's CPU time, for the single-core kernel benchmarks (weight_dot_bench,
// exact_panel_bench, gemm_bench): unlike wall time it does not count the moments the VM or
// another process takes the core away.
#pragma once

#include <ctime>

namespace dsagent::bench {

inline double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace dsagent::bench
