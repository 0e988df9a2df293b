// Retry policy mechanics: which HTTP statuses are transient, how long to wait before the next
// attempt, and a wait that Ctrl-C interrupts. The loop that uses them lives in HttpProvider.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>

#include "agent/providers/provider_factory.h"  // RetryPolicy
#include "common/cancel.h"

namespace dsagent {

// True for the statuses worth retrying with the identical body: 429, 500, 502, 503, 504, and
// Anthropic's 529 (overloaded).
bool IsRetryableHttpStatus(int status);

// Exponential backoff with full jitter. Not thread-safe; one per model call.
class Backoff {
 public:
  // policy.jitter_seed == 0 seeds from std::random_device; any other value gives a reproducible
  // sequence (the jitter is std::mt19937_64(seed)() % (ceiling + 1), fully specified).
  explicit Backoff(const RetryPolicy& policy);

  // The wait before retry number `retry` (1 = the first retry). Without Retry-After: uniform in
  // [0, min(max_backoff_ms, initial_backoff_ms * 2^(retry-1))] ms. With a Retry-After of s seconds
  // from the server: exactly min(s * 1000, max_backoff_ms) ms (the server knows best; the cap
  // keeps a hostile or confused header from stalling the agent).
  std::chrono::milliseconds Delay(int retry, std::optional<int> retry_after_s);

  // The jitter ceiling for `retry` (the upper bound of Delay without Retry-After).
  int64_t CeilingMs(int retry) const;

 private:
  RetryPolicy policy_;
  std::mt19937_64 rng_;
};

// The time source and the sleep that SleepUnlessCancelled uses. Real() is std::chrono::steady_clock
// and std::this_thread::sleep_for; tests substitute a virtual clock to check the waits taken.
struct WaitClock {
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::steady_clock::duration)> sleep_for;

  static WaitClock Real();
};

// Waits `delay` in sleeps of at most 10 ms, looking at `cancel` before each. Returns false as soon
// as the token fires (within ~10 ms), true when the full delay passed.
bool SleepUnlessCancelled(std::chrono::milliseconds delay, const CancelToken& cancel,
                          const WaitClock& clock = WaitClock::Real());

}  // namespace dsagent
