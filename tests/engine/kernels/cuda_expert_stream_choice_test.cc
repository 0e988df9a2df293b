// ChooseStreamedExperts and BalancedStreamCount (engine/kernels/cuda/expert_stream_choice.h):
// which host experts a MoE call over many rows streams to the device, and how many under
// measured costs. Host code; no device needed.
#include <gtest/gtest.h>

#include <vector>

#include "engine/kernels/cuda/expert_stream_choice.h"

namespace dsagent::engine::kernels::cuda {
namespace {

TEST(ExpertStreamChoiceTest, TakesTheHostExpertsMostChosenFirstUpToTheCapacity) {
  // 8 experts, 0..3 on the device. Slots: expert 5 three times, 7 twice, 4 twice, 6 once, and
  // device experts in between.
  const std::vector<int32_t> ids = {5, 0, 7, 5, 4, 3, 7, 6, 5, 4, 1};
  std::vector<uint8_t> streamed;
  const auto all =
      ChooseStreamedExperts(ids.data(), static_cast<int64_t>(ids.size()), 4, 8, 16, streamed);
  EXPECT_EQ(all, (std::vector<int32_t>{5, 4, 7, 6}));  // by uses, ties by index (4 before 7)
  EXPECT_EQ(streamed, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 1, 1}));

  const auto two =
      ChooseStreamedExperts(ids.data(), static_cast<int64_t>(ids.size()), 4, 8, 2, streamed);
  EXPECT_EQ(two, (std::vector<int32_t>{5, 4}));
  EXPECT_EQ(streamed, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 0, 0}));
}

TEST(ExpertStreamChoiceTest, NothingToStreamWhenEveryChosenExpertIsOnTheDevice) {
  const std::vector<int32_t> ids = {0, 1, 2, 1};
  std::vector<uint8_t> streamed;
  EXPECT_TRUE(ChooseStreamedExperts(ids.data(), 4, 3, 6, 8, streamed).empty());
  EXPECT_EQ(streamed, std::vector<uint8_t>(6, 0));
  // A pool of none streams nothing either.
  const std::vector<int32_t> host = {4, 5, 4};
  EXPECT_TRUE(ChooseStreamedExperts(host.data(), 3, 3, 6, 0, streamed).empty());
  EXPECT_EQ(streamed, std::vector<uint8_t>(6, 0));
}

// Costs in milliseconds' worth of seconds, for readable cases.
constexpr double kMs = 1e-3;

TEST(ExpertStreamChoiceTest, BalancedCountEndsTheCopiesAndTheCpusShareTogether) {
  // Ten experts chosen by 4 slots each; a copy 1 ms an expert, the CPU 0.5 ms an expert + 0.125
  // ms a slot (1 ms an expert here): n copies take n ms, the CPU's share 10 - n ms, both 5 ms at
  // n = 5.
  const std::vector<int64_t> uses(10, 4);
  const ExpertStreamCosts costs{
      .copy_seconds = 1 * kMs, .cpu_seconds = 0.5 * kMs, .cpu_slot_seconds = 0.125 * kMs};
  EXPECT_EQ(BalancedStreamCount(uses, 64, costs), 5);
  // The pool caps it.
  EXPECT_EQ(BalancedStreamCount(uses, 3, costs), 3);
  // A copy dearer than the CPU's whole share of any one expert more: nothing streams...
  const ExpertStreamCosts slow_link{
      .copy_seconds = 20 * kMs, .cpu_seconds = 0.5 * kMs, .cpu_slot_seconds = 0.125 * kMs};
  EXPECT_EQ(BalancedStreamCount(uses, 64, slow_link), 0);
  // ...a copy next to free: every chosen expert does.
  const ExpertStreamCosts fast_link{
      .copy_seconds = 0.001 * kMs, .cpu_seconds = 0.5 * kMs, .cpu_slot_seconds = 0.125 * kMs};
  EXPECT_EQ(BalancedStreamCount(uses, 64, fast_link), 10);
  EXPECT_EQ(BalancedStreamCount({}, 64, costs), 0);
}

TEST(ExpertStreamChoiceTest, TheDevicesProductsFollowTheCopies) {
  // As in the first test (a copy 1 ms, the CPU 1 ms an expert), but the device's products take
  // 0.25 ms an expert + 0.0625 ms a slot (0.5 ms a streamed expert here) after the copies, and
  // its own experts 2 ms: n streamed end at n + 2 + 0.5 n ms, the CPU at 10 - n. Three (6.5
  // against 7) beat four (8 against 6); without the device's time it was five.
  const std::vector<int64_t> uses(10, 4);
  ExpertStreamCosts costs{.copy_seconds = 1 * kMs,
                          .cpu_seconds = 0.5 * kMs,
                          .cpu_slot_seconds = 0.125 * kMs,
                          .device_seconds = 0.25 * kMs,
                          .device_slot_seconds = 0.0625 * kMs};
  EXPECT_EQ(BalancedStreamCount(uses, 64, costs, 2 * kMs), 3);
  // A device busy past the CPU's whole share with its own experts: nothing to gain.
  EXPECT_EQ(BalancedStreamCount(uses, 64, costs, 12 * kMs), 0);
  // Copies that hold the host: n + max(2 + 0.5 n, 10 - n) is 10 up to n = 5 and more after it.
  costs.copies_hold_the_host = true;
  EXPECT_EQ(BalancedStreamCount(uses, 64, costs, 2 * kMs), 0);
}

TEST(ExpertStreamChoiceTest, TheCallsOwnDeviceExpertsCountAgainstStreaming) {
  // The first test's call: host experts 5, 4, 7, 6 chosen 3, 2, 2 and 1 times; device experts 0
  // (twice), 3 and 1. A copy 1 ms, the CPU 1 ms a slot; the device 1 ms an expert, so its own
  // three take 3 ms and each streamed one 1 ms more: one streamed ends at max(1 + 4, 5) = 5,
  // two at max(2 + 5, 3) = 7. Without the device's time: two (3 ms).
  const std::vector<int32_t> ids = {5, 0, 7, 5, 4, 3, 7, 6, 5, 4, 1};
  std::vector<uint8_t> streamed;
  const ExpertStreamCosts costs{
      .copy_seconds = 1 * kMs, .cpu_slot_seconds = 1 * kMs, .device_seconds = 1 * kMs};
  EXPECT_EQ(ChooseStreamedExperts(ids.data(), static_cast<int64_t>(ids.size()), 4, 8, 16, streamed,
                                  &costs),
            (std::vector<int32_t>{5}));
  // Device slots count too: at 2 ms a slot the device's own 4 take as long as the CPU's 8 ms,
  // and each streamed slot adds 2 ms more.
  const ExpertStreamCosts busy_device{
      .copy_seconds = 1 * kMs, .cpu_slot_seconds = 1 * kMs, .device_slot_seconds = 2 * kMs};
  EXPECT_TRUE(ChooseStreamedExperts(ids.data(), static_cast<int64_t>(ids.size()), 4, 8, 16,
                                    streamed, &busy_device)
                  .empty());
}

TEST(ExpertStreamChoiceTest, CopiesThatHoldTheHostAddToTheCpusShare) {
  // As above, but queueing a copy keeps the host until it is done: n copies, then the CPU's
  // 10 - n ms. A copy (1 ms) saves the CPU no more than it costs (1 ms an expert): none streams
  // (a tie keeps the smaller count); at 0.75 ms a copy every expert does.
  const std::vector<int64_t> uses(10, 4);
  ExpertStreamCosts costs{.copy_seconds = 1 * kMs,
                          .cpu_seconds = 0.5 * kMs,
                          .cpu_slot_seconds = 0.125 * kMs,
                          .copies_hold_the_host = true};
  EXPECT_EQ(BalancedStreamCount(uses, 64, costs), 0);
  costs.copy_seconds = 0.75 * kMs;
  EXPECT_EQ(BalancedStreamCount(uses, 64, costs), 10);
  EXPECT_EQ(BalancedStreamCount(uses, 4, costs), 4);
}

TEST(ExpertStreamChoiceTest, BalancedCountWeighsTheMostChosenExpertsMost) {
  // One expert chosen by 40 slots, nine by one: the CPU's share is 0.1 + 40 x 0.1 = 4.1 ms for
  // the first and 0.2 ms for each other. Streaming the first (1 ms) leaves the CPU 1.8 ms; two
  // copies (2 ms) would end after the CPU's 1.6.
  std::vector<int64_t> uses = {40, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const ExpertStreamCosts costs{
      .copy_seconds = 1 * kMs, .cpu_seconds = 0.1 * kMs, .cpu_slot_seconds = 0.1 * kMs};
  EXPECT_EQ(BalancedStreamCount(uses, 64, costs), 1);
  // The ten each chosen once: one copy (1 ms) beside the CPU's other nine (1.8 ms) still ends
  // before the CPU's 2 ms for all ten; a second copy (2 ms) would not.
  uses.assign(10, 1);
  EXPECT_EQ(BalancedStreamCount(uses, 64, costs), 1);
}

TEST(ExpertStreamChoiceTest, MeasuredCostsLimitTheChoiceToTheBalancedCount) {
  // Host experts 4..7 chosen 3, 2, 2 and 1 times (as in the first test). A copy of 1 ms against
  // 1 ms of the CPU's a slot: streaming 5 (3 ms on the CPU) leaves 5 ms there (4, 7, 6: 2 + 2 +
  // 1 slots); 5 and 4 leave 3 ms against 2 ms of copies; three copies (3 ms) against 1 ms: no
  // better than 3. So two.
  const std::vector<int32_t> ids = {5, 0, 7, 5, 4, 3, 7, 6, 5, 4, 1};
  std::vector<uint8_t> streamed;
  const ExpertStreamCosts costs{.copy_seconds = 1 * kMs, .cpu_slot_seconds = 1 * kMs};
  const auto two = ChooseStreamedExperts(ids.data(), static_cast<int64_t>(ids.size()), 4, 8, 16,
                                         streamed, &costs);
  EXPECT_EQ(two, (std::vector<int32_t>{5, 4}));
  EXPECT_EQ(streamed, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 0, 0}));
  // Unmeasured costs (all zero) fill the pool, as without them.
  const ExpertStreamCosts unmeasured;
  EXPECT_FALSE(unmeasured.measured());
  EXPECT_EQ(ChooseStreamedExperts(ids.data(), static_cast<int64_t>(ids.size()), 4, 8, 16, streamed,
                                  &unmeasured),
            (std::vector<int32_t>{5, 4, 7, 6}));
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda
