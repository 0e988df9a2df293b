#include "agent/providers/retry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <vector>

namespace dsagent {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(RetryTest, RetryableStatuses) {
  // 529 is Anthropic's "overloaded": transient (the API fault campaign found it was not retried).
  for (int s : {429, 500, 502, 503, 504, 529}) EXPECT_TRUE(IsRetryableHttpStatus(s)) << s;
  for (int s : {200, 400, 401, 402, 404, 422, 501}) EXPECT_FALSE(IsRetryableHttpStatus(s)) << s;
}

TEST(BackoffTest, ScheduleWithFixedSeedIsFullJitterUnderADoublingCeiling) {
  RetryPolicy policy;
  policy.initial_backoff_ms = 100;
  policy.max_backoff_ms = 1000;
  policy.jitter_seed = 1234;
  Backoff backoff(policy);
  // The documented jitter: one draw of mt19937_64(seed) per delay, modulo (ceiling + 1).
  std::mt19937_64 reference(1234);
  const int64_t ceilings[] = {100, 200, 400, 800, 1000, 1000};
  for (int retry = 1; retry <= 6; ++retry) {
    EXPECT_EQ(backoff.CeilingMs(retry), ceilings[retry - 1]);
    const int64_t expected = static_cast<int64_t>(reference() % (ceilings[retry - 1] + 1));
    EXPECT_EQ(backoff.Delay(retry, std::nullopt), milliseconds(expected)) << "retry " << retry;
  }
}

TEST(BackoffTest, SameSeedSameDelays) {
  RetryPolicy policy;
  policy.jitter_seed = 99;
  Backoff a(policy), b(policy);
  for (int retry = 1; retry <= 5; ++retry) {
    EXPECT_EQ(a.Delay(retry, std::nullopt), b.Delay(retry, std::nullopt));
  }
}

TEST(BackoffTest, RetryAfterIsHonouredAndCapped) {
  RetryPolicy policy;
  policy.max_backoff_ms = 30000;
  policy.jitter_seed = 1;
  Backoff backoff(policy);
  EXPECT_EQ(backoff.Delay(1, 2), milliseconds(2000));
  EXPECT_EQ(backoff.Delay(3, 0), milliseconds(0));
  EXPECT_EQ(backoff.Delay(1, 3600), milliseconds(30000));
  policy.max_backoff_ms = 50;
  Backoff capped(policy);
  EXPECT_EQ(capped.Delay(1, 1), milliseconds(50));
}

// A virtual clock for SleepUnlessCancelled: time moves only when it sleeps, and every sleep is
// recorded. `on_sleep` runs after each sleep (e.g. to cancel part-way).
class FakeWaitClock {
 public:
  WaitClock Clock() {
    return {[this] { return now_; },
            [this](std::chrono::steady_clock::duration d) {
              sleeps_.push_back(std::chrono::duration_cast<milliseconds>(d));
              now_ += d;
              if (on_sleep) on_sleep();
            }};
  }
  const std::vector<milliseconds>& sleeps() const { return sleeps_; }
  std::function<void()> on_sleep;

 private:
  std::chrono::steady_clock::time_point now_;
  std::vector<milliseconds> sleeps_;
};

TEST(SleepUnlessCancelledTest, WaitsTheFullDelayInSlicesOfAtMostTenMs) {
  CancelToken token;
  FakeWaitClock clock;
  EXPECT_TRUE(SleepUnlessCancelled(milliseconds(25), token, clock.Clock()));
  EXPECT_THAT(clock.sleeps(), ElementsAre(milliseconds(10), milliseconds(10), milliseconds(5)));
}

TEST(SleepUnlessCancelledTest, CancelStopsTheWaitAfterTheCurrentSlice) {
  CancelToken token;
  FakeWaitClock clock;
  clock.on_sleep = [&] {
    if (clock.sleeps().size() == 3) token.Cancel();
  };
  EXPECT_FALSE(SleepUnlessCancelled(std::chrono::seconds(30), token, clock.Clock()));
  EXPECT_THAT(clock.sleeps(), ElementsAre(milliseconds(10), milliseconds(10), milliseconds(10)));
}

TEST(SleepUnlessCancelledTest, AnAlreadyCancelledTokenDoesNotSleep) {
  CancelToken token;
  token.Cancel();
  FakeWaitClock clock;
  EXPECT_FALSE(SleepUnlessCancelled(std::chrono::seconds(30), token, clock.Clock()));
  EXPECT_THAT(clock.sleeps(), IsEmpty());
}

TEST(SleepUnlessCancelledTest, RealClockWaitsAtLeastTheDelay) {
  CancelToken token;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(SleepUnlessCancelled(milliseconds(30), token));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
}

TEST(SleepUnlessCancelledTest, RealClockCancelFromAnotherThreadEndsTheWait) {
  CancelToken token;
  std::thread canceller([token] { token.Cancel(); });
  // Without the cancel this would sleep the full 30 s and return true.
  const bool slept = SleepUnlessCancelled(std::chrono::seconds(30), token);
  canceller.join();
  EXPECT_FALSE(slept);
}

}  // namespace
}  // namespace dsagent
