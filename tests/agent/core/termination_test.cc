#include "agent/core/termination.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

Termination Of(TerminationReason reason) { return {reason, ""}; }

TEST(TerminationTest, ExitCodesFollowTheRunContract) {
  EXPECT_EQ(Of(TerminationReason::kDone).ExitCode(), 0);
  EXPECT_EQ(Of(TerminationReason::kMaxSteps).ExitCode(), 5);
  EXPECT_EQ(Of(TerminationReason::kMaxCost).ExitCode(), 5);
  EXPECT_EQ(Of(TerminationReason::kTimeout).ExitCode(), 5);
  EXPECT_EQ(Of(TerminationReason::kInterrupted).ExitCode(), 130);
  EXPECT_EQ(Of(TerminationReason::kErrorUsage).ExitCode(), 2);
  EXPECT_EQ(Of(TerminationReason::kErrorTrace).ExitCode(), 1);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kAuth, 401, "x"}).ExitCode(), 3);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kConfig, 0, "x"}).ExitCode(), 3);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kRateLimited, 429, "x"}).ExitCode(), 4);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kServer, 503, "x"}).ExitCode(), 4);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kTransport, 0, "x"}).ExitCode(), 4);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kEngineLost, 503, "x"}).ExitCode(), 4);
  EXPECT_EQ(FromProviderError({ProviderErrorKind::kCancelled, 0, "x"}).reason,
            TerminationReason::kInterrupted);
}

TEST(TerminationTest, ReasonsHaveTheirContractNames) {
  EXPECT_STREQ(TerminationReasonName(TerminationReason::kDone), "done");
  EXPECT_STREQ(TerminationReasonName(TerminationReason::kErrorTrace), "error:trace");
  EXPECT_STREQ(FromProviderError({ProviderErrorKind::kModelMismatch, 0, "x"}).Name(),
               "error:model_mismatch");
  EXPECT_STREQ(FromProviderError({ProviderErrorKind::kRateLimited, 429, "x"}).Name(),
               "error:rate_limited");
  EXPECT_STREQ(FromProviderError({ProviderErrorKind::kEngineLost, 0, "x"}).Name(),
               "error:engine_lost");
}

TEST(TerminationTest, StatusNamesTheOutcome) {
  EXPECT_EQ(Of(TerminationReason::kDone).Status(), "success");
  EXPECT_EQ(Of(TerminationReason::kMaxCost).Status(), "limit");
  EXPECT_EQ(Of(TerminationReason::kInterrupted).Status(), "interrupted");
  EXPECT_EQ(Of(TerminationReason::kErrorServer).Status(), "error");
}

}  // namespace
}  // namespace dsagent
