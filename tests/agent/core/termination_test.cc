#include "agent/core/termination.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

TEST(TerminationTest, ExitCodesFollowTheRunContract) {
  EXPECT_EQ(Termination({"done", ""}).ExitCode(), 0);
  EXPECT_EQ(Termination({"max_steps", ""}).ExitCode(), 5);
  EXPECT_EQ(Termination({"max_cost", ""}).ExitCode(), 5);
  EXPECT_EQ(Termination({"timeout", ""}).ExitCode(), 5);
  EXPECT_EQ(Termination({"interrupted", ""}).ExitCode(), 130);
  EXPECT_EQ(Termination({"error:usage", ""}).ExitCode(), 2);
  EXPECT_EQ(Termination({"error:trace", ""}).ExitCode(), 1);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kAuth, 401, "x"}).ExitCode(), 3);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kConfig, 0, "x"}).ExitCode(), 3);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kRateLimited, 429, "x"}).ExitCode(), 4);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kServer, 503, "x"}).ExitCode(), 4);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kTransport, 0, "x"}).ExitCode(), 4);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kCancelled, 0, "x"}).reason, "interrupted");
}

TEST(TerminationTest, StatusNamesTheOutcome) {
  EXPECT_EQ(Termination({"done", ""}).Status(), "success");
  EXPECT_EQ(Termination({"max_cost", ""}).Status(), "limit");
  EXPECT_EQ(Termination({"interrupted", ""}).Status(), "interrupted");
  EXPECT_EQ(Termination({"error:server", ""}).Status(), "error");
}

}  // namespace
}  // namespace dsagent
