// PinRanges and PinRefusal (engine/kernels/cuda/host_pin_plan.h): which pages of the offloaded
// experts are page-locked, in how many registrations, and when the host cannot spare them. Host
// code; no device needed (the registration itself: cuda_host_pinning_test.cc).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "engine/kernels/cuda/host_pin_plan.h"

namespace dsagent::engine::kernels::cuda {
namespace {

using ::testing::HasSubstr;

std::vector<std::pair<uintptr_t, uintptr_t>> Pairs(const std::vector<HostByteRange>& r) {
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  for (const HostByteRange& x : r) out.emplace_back(x.begin, x.end);
  return out;
}

TEST(HostPinPlanTest, RangesWidenToWholePagesSortAndJoinWithinTheGap) {
  constexpr uintptr_t kPage = 4096;
  // Out of order; one empty; two overlapping once widened; one 2 pages past its neighbour.
  const std::vector<HostByteRange> ranges = {
      {5 * kPage + 10, 6 * kPage + 1},  // pages 5..6
      {100, 200},                       // page 0
      {300, 300},                       // empty: dropped
      {kPage - 1, kPage + 1},           // pages 0..1 (joins the one above)
      {9 * kPage, 10 * kPage},          // page 9, three pages after page 6 ends at 7
  };
  EXPECT_EQ(Pairs(PinRanges(ranges, kPage, 0)),
            (std::vector<std::pair<uintptr_t, uintptr_t>>{
                {0, 2 * kPage}, {5 * kPage, 7 * kPage}, {9 * kPage, 10 * kPage}}));
  // A gap of 2 pages joins 5..6 and 9 (7 + 2 = 9), not 0..1 and 5 (gap of 3 pages).
  EXPECT_EQ(
      Pairs(PinRanges(ranges, kPage, 2 * kPage)),
      (std::vector<std::pair<uintptr_t, uintptr_t>>{{0, 2 * kPage}, {5 * kPage, 10 * kPage}}));
  // Touching ranges join even without a gap; nothing in, nothing out.
  EXPECT_EQ(Pairs(PinRanges({{0, kPage}, {kPage, 2 * kPage}}, kPage, 0)),
            (std::vector<std::pair<uintptr_t, uintptr_t>>{{0, 2 * kPage}}));
  EXPECT_TRUE(PinRanges({}, kPage, kPage).empty());
  EXPECT_TRUE(PinRanges({{7, 7}}, kPage, kPage).empty());
}

TEST(HostPinPlanTest, PinsUpToThreeQuartersOfTheAvailableMemory) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_FALSE(PinRefusal(0, 0));  // nothing to pin
  EXPECT_FALSE(PinRefusal(3 * kGiB, 4 * kGiB));
  const auto over = PinRefusal(3 * kGiB + 1, 4 * kGiB);
  ASSERT_TRUE(over);
  EXPECT_THAT(*over, HasSubstr("3.00 GiB of host experts is more than 3/4 of the 4.00 GiB"));
  EXPECT_THAT(*over, HasSubstr("--gpu-memory"));
  const auto unknown = PinRefusal(kGiB, 0);
  ASSERT_TRUE(unknown);
  EXPECT_THAT(*unknown, HasSubstr("unknown"));
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda
