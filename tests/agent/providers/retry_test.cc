#include "agent/providers/retry.h"

#include <gtest/gtest.h>

#include <thread>

namespace dsagent {
namespace {

using std::chrono::milliseconds;

TEST(RetryTest, RetryableStatuses) {
  for (int s : {429, 500, 502, 503, 504}) EXPECT_TRUE(IsRetryableHttpStatus(s)) << s;
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

TEST(SleepUnlessCancelledTest, FullDelayWithoutCancel) {
  CancelToken token;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(SleepUnlessCancelled(milliseconds(30), token));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
}

TEST(SleepUnlessCancelledTest, CancelInterruptsALongWait) {
  CancelToken token;
  const auto start = std::chrono::steady_clock::now();
  std::thread canceller([token] { token.Cancel(); });
  const bool slept = SleepUnlessCancelled(std::chrono::seconds(30), token);
  canceller.join();
  EXPECT_FALSE(slept);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace dsagent
