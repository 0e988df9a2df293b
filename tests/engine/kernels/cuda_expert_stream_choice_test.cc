// ChooseStreamedExperts (engine/kernels/cuda/expert_stream_choice.h): which host experts a MoE
// call over many rows streams to the device. Host code; no device needed.
#include "engine/kernels/cuda/expert_stream_choice.h"

#include <gtest/gtest.h>

#include <vector>

namespace dsagent::engine::kernels::cuda {
namespace {

TEST(ExpertStreamChoiceTest, TakesTheHostExpertsMostChosenFirstUpToTheCapacity) {
  // 8 experts, 0..3 on the device. Slots: expert 5 three times, 7 twice, 4 twice, 6 once, and
  // device experts in between.
  const std::vector<int32_t> ids = {5, 0, 7, 5, 4, 3, 7, 6, 5, 4, 1};
  std::vector<uint8_t> streamed;
  const auto all = ChooseStreamedExperts(ids.data(), static_cast<int64_t>(ids.size()), 4, 8, 16,
                                         streamed);
  EXPECT_EQ(all, (std::vector<int32_t>{5, 4, 7, 6}));  // by uses, ties by index (4 before 7)
  EXPECT_EQ(streamed, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 1, 1}));

  const auto two = ChooseStreamedExperts(ids.data(), static_cast<int64_t>(ids.size()), 4, 8, 2,
                                         streamed);
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

}  // namespace
}  // namespace dsagent::engine::kernels::cuda
