#include "agent/core/run_setup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dsagent {
namespace {
using ::testing::HasSubstr;

SandboxSupport Landlock(int abi) {
  SandboxSupport s;
  s.landlock_abi = abi;
  s.bubblewrap.problem = "not installed";
  return s;
}

TEST(HeadlessSandboxTest, ChoosesABackendThatWorks) {
  auto s = ChooseHeadlessSandbox(Landlock(4), SandboxBackend::kAuto, true);
  ASSERT_TRUE(s) << s.error();
  EXPECT_TRUE(s->deny_network);
  EXPECT_EQ(s->backend, SandboxBackend::kLandlock);
  EXPECT_TRUE(s->notice.empty());
}

// Network denial the kernel cannot provide leaves the network allowed, with a notice; the
// filesystem confinement still applies.
TEST(HeadlessSandboxTest, NetworkDenialFallsBackWithANotice) {
  auto s = ChooseHeadlessSandbox(Landlock(1), SandboxBackend::kAuto, true);
  ASSERT_TRUE(s) << s.error();
  EXPECT_FALSE(s->deny_network);
  EXPECT_THAT(s->notice, HasSubstr("the network stays allowed"));
  auto allowed = ChooseHeadlessSandbox(Landlock(1), SandboxBackend::kAuto, false);
  ASSERT_TRUE(allowed);
  EXPECT_TRUE(allowed->notice.empty());
}

TEST(HeadlessSandboxTest, RefusesWhereNoBackendWorks) {
  auto s = ChooseHeadlessSandbox(Landlock(0), SandboxBackend::kAuto, false);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error(), HasSubstr("pass --no-sandbox"));
  EXPECT_FALSE(ChooseHeadlessSandbox(Landlock(4), SandboxBackend::kBubblewrap, false));
}

}  // namespace
}  // namespace dsagent
