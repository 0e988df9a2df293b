#include "agent/providers/retry.h"

#include <algorithm>
#include <thread>

namespace dsagent {

bool IsRetryableHttpStatus(int status) {
  // 529: Anthropic's "overloaded_error", which Anthropic-format endpoints send when busy.
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504 ||
         status == 529;
}

Backoff::Backoff(const RetryPolicy& policy)
    : policy_(policy),
      rng_(policy.jitter_seed != 0 ? policy.jitter_seed : std::random_device{}()) {}

int64_t Backoff::CeilingMs(int retry) const {
  const int64_t cap = std::max(0, policy_.max_backoff_ms);
  int64_t ceiling = std::max(0, policy_.initial_backoff_ms);
  for (int i = 1; i < retry && ceiling < cap; ++i) ceiling *= 2;
  return std::min(ceiling, cap);
}

std::chrono::milliseconds Backoff::Delay(int retry, std::optional<int> retry_after_s) {
  if (retry_after_s) {
    const int64_t ms = std::max<int64_t>(0, *retry_after_s) * 1000;
    return std::chrono::milliseconds(std::min<int64_t>(ms, std::max(0, policy_.max_backoff_ms)));
  }
  const uint64_t ceiling = static_cast<uint64_t>(CeilingMs(retry));
  return std::chrono::milliseconds(static_cast<int64_t>(rng_() % (ceiling + 1)));
}

WaitClock WaitClock::Real() {
  return {[] { return std::chrono::steady_clock::now(); },
          [](std::chrono::steady_clock::duration d) { std::this_thread::sleep_for(d); }};
}

bool SleepUnlessCancelled(std::chrono::milliseconds delay, const CancelToken& cancel,
                          const WaitClock& clock) {
  // CancelToken is a bare atomic flag (it must be settable from a signal handler), so there is
  // nothing to wait on; short sleeps bound the reaction time instead.
  constexpr auto kSlice = std::chrono::milliseconds(10);
  const auto deadline = clock.now() + delay;
  while (!cancel.IsCancelled()) {
    const auto now = clock.now();
    if (now >= deadline) return true;
    clock.sleep_for(std::min<std::chrono::steady_clock::duration>(kSlice, deadline - now));
  }
  return false;
}

}  // namespace dsagent
