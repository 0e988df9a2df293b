// DecodeGraphs (kernels/cuda/decode_graph.h): a step run as a graph gives the plain step's bits,
// a kept executable is updated (new arguments and grids) rather than instantiated again, steps of
// two shapes keep one executable each (or evict each other with room for one), and a step a graph
// cannot hold — a copy from host memory, a host wait, an exception — is refused with the stream
// usable afterwards. The environment switch is tested everywhere; the rest skips without a device
// (fails with DSAGENT_REQUIRE_CUDA=1). The model-level check (graphed decode = plain decode on
// the tiny checkpoint) is in cuda_sequence_model_test.cc. Phase timing (phase_times.h) here too:
// its marks must stay out of captured steps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <stdexcept>
#include <vector>

#include "engine/kernels/cuda/decode_graph.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/phase_times.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent::engine::kernels::cuda {
namespace {

using test_support::Bits;
using test_support::ToDevice;
using test_support::ToHost;
using ::testing::HasSubstr;

TEST(DecodeGraphsTest, TheEnvironmentTurnsGraphsOff) {
  const char* before = std::getenv("DSAGENT_CUDA_GRAPHS");
  const std::string saved = before ? before : "";
  unsetenv("DSAGENT_CUDA_GRAPHS");
  EXPECT_FALSE(GraphsDisabledByEnvironment());
  for (const char* off : {"off", "0", "no", "false"}) {
    setenv("DSAGENT_CUDA_GRAPHS", off, 1);
    EXPECT_TRUE(GraphsDisabledByEnvironment()) << off;
  }
  for (const char* on : {"on", "1", ""}) {
    setenv("DSAGENT_CUDA_GRAPHS", on, 1);
    EXPECT_FALSE(GraphsDisabledByEnvironment()) << on;
  }
  if (before) {
    setenv("DSAGENT_CUDA_GRAPHS", saved.c_str(), 1);
  } else {
    unsetenv("DSAGENT_CUDA_GRAPHS");
  }
}

class DecodeGraphsGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_CUDA_DEVICE();
    stream_ = std::make_unique<CudaStream>();
    std::mt19937 rng(17);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    x_.resize(kRows * kN);
    for (float& v : x_) v = dist(rng);
    w_.resize(kN);
    for (float& v : w_) v = 1.0f + 0.1f * dist(rng);
    dx_ = ToDevice(x_, *stream_);
    dw_ = ToDevice(w_, *stream_);
    dy_ = DeviceBuffer(x_.size() * sizeof(float));
  }

  // The step of `rows` rows: RmsNorm of x into y, then (two_ops) FP8 act_quant of y in place.
  void Step(int64_t rows, bool two_ops) {
    RmsNorm(dx_.as<float>(), rows, kN, dw_.as<float>(), 1e-6f, dy_.as<float>(), *stream_);
    if (two_ops) ActQuant(dy_.as<float>(), rows, kN, 128, ActQuantFormat::kFp8, *stream_);
  }

  std::vector<float> Result(int64_t rows) {
    return ToHost(dy_, static_cast<size_t>(rows * kN), *stream_);
  }

  static constexpr int64_t kRows = 9, kN = 256;
  std::unique_ptr<CudaStream> stream_;
  std::vector<float> x_, w_;
  DeviceBuffer dx_, dw_, dy_;
};

// Each step graphed gives the plain step's bits, for row counts that change the grid: the first
// launch instantiates, the others update the kept executable.
TEST_F(DecodeGraphsGpuTest, AGraphedStepGivesThePlainStepsBitsAndUpdatesInPlace) {
  DecodeGraphs graphs;
  for (const int64_t rows : {int64_t{1}, int64_t{4}, int64_t{9}, int64_t{2}}) {
    dy_.Zero(*stream_);
    Step(rows, true);
    const std::vector<float> plain = Result(rows);
    dy_.Zero(*stream_);
    graphs.Run(*stream_, 0, [&] { Step(rows, true); });
    const std::vector<float> graphed = Result(rows);
    ASSERT_EQ(graphed.size(), plain.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      ASSERT_EQ(Bits(graphed[i]), Bits(plain[i])) << rows << " rows, value " << i;
    }
  }
  EXPECT_EQ(graphs.stats().launches, 4);
  EXPECT_EQ(graphs.stats().instantiations, 1);
  EXPECT_EQ(graphs.stats().updates, 3);
  EXPECT_EQ(graphs.stats().last_nodes, 2);
  EXPECT_EQ(graphs.kept(), 1);
}

// Steps of two shapes (one kernel, two kernels) taking turns: one executable each, updated from
// then on; with room for one, each step evicts the other's and instantiates its own.
TEST_F(DecodeGraphsGpuTest, EachShapeKeepsItsOwnExecutable) {
  DecodeGraphs roomy(8), tight(1);
  for (int i = 0; i < 6; ++i) {
    const bool two = i % 2 == 1;
    roomy.Run(*stream_, 0, [&] { Step(3, two); });
    tight.Run(*stream_, 0, [&] { Step(3, two); });
    EXPECT_EQ(roomy.stats().last_nodes, two ? 2 : 1);
  }
  stream_->Synchronize();
  EXPECT_EQ(roomy.stats().instantiations, 2);
  EXPECT_EQ(roomy.stats().updates, 4);
  EXPECT_EQ(roomy.kept(), 2);
  EXPECT_EQ(tight.stats().instantiations, 6);
  EXPECT_EQ(tight.kept(), 1);
}

// What a graph cannot hold is refused, nothing of the step runs, and the stream goes on working.
TEST_F(DecodeGraphsGpuTest, StepsAGraphCannotHoldAreRefusedAndTheStreamStaysUsable) {
  DecodeGraphs graphs;
  // Pinned, so that the copy itself is capturable and the graph's own check refuses it.
  PinnedHostBuffer host(static_cast<size_t>(kN) * sizeof(float));
  for (int64_t i = 0; i < kN; ++i) host.as<float>()[i] = 3.0f;
  const auto still_usable = [&](const char* after) {
    dy_.Zero(*stream_);
    Step(2, false);
    const std::vector<float> y = Result(2);
    EXPECT_NE(Bits(y[0]), 0u) << "the stream after " << after;
  };
  // A copy from host memory (a replay would read it again).
  try {
    graphs.Run(*stream_, 0, [&] { dy_.Upload(host.as<float>(), host.bytes(), *stream_); });
    ADD_FAILURE() << "a host copy was graphed";
  } catch (const CudaError& e) {
    EXPECT_THAT(e.what(), HasSubstr("copies host memory")) << e.what();
  }
  still_usable("a host copy");
  // A host wait inside the step.
  EXPECT_THROW(graphs.Run(*stream_, 0,
                          [&] {
                            Step(2, false);
                            stream_->Synchronize();
                          }),
               CudaError);
  still_usable("a host wait");
  // The step's own exception comes through as it is.
  EXPECT_THROW(graphs.Run(*stream_, 0,
                          [&] {
                            Step(2, false);
                            throw std::out_of_range("the step's own");
                          }),
               std::out_of_range);
  still_usable("an exception");
  // An empty step launches nothing.
  graphs.Run(*stream_, 0, [] {});
  EXPECT_EQ(graphs.stats().launches, 0);
  EXPECT_EQ(graphs.stats().last_nodes, 0);
}

// Pieces of a step (slots) keep their own executables even when their shapes are the same: the
// step's second piece updates the second piece's executable of the step before.
TEST_F(DecodeGraphsGpuTest, EachSlotKeepsItsOwnExecutables) {
  DecodeGraphs graphs;
  for (int step = 0; step < 3; ++step) {
    for (uint64_t slot = 0; slot < 2; ++slot) graphs.Run(*stream_, slot, [&] { Step(2, true); });
  }
  stream_->Synchronize();
  EXPECT_EQ(graphs.stats().instantiations, 2);
  EXPECT_EQ(graphs.stats().updates, 4);
  EXPECT_EQ(graphs.kept(), 2);
}

// Phase timing (phase_times.h): marks on the stream add up per name between consecutive marks
// (a phase marked twice counts two intervals; "end" closes without starting one); nothing is
// recorded with timing off or while the stream is captured into a graph; collecting forgets the
// marks.
TEST_F(DecodeGraphsGpuTest, PhaseTimesAddUpBetweenMarksAndSkipCaptures) {
  const bool was = PhaseTiming();
  SetPhaseTiming(false);
  MarkPhase(*stream_, "off");
  EXPECT_TRUE(CollectPhaseTimes().empty());
  SetPhaseTiming(true);
  for (int i = 0; i < 2; ++i) {
    MarkPhase(*stream_, "norm");
    Step(kRows, false);
    MarkPhase(*stream_, "norm and quant");
    Step(kRows, true);
  }
  MarkPhase(*stream_, "end");
  DecodeGraphs graphs;
  graphs.Run(*stream_, 0, [&] {
    MarkPhase(*stream_, "captured");
    Step(kRows, true);
  });
  const std::vector<PhaseTime> times = CollectPhaseTimes();
  SetPhaseTiming(was);
  ASSERT_EQ(times.size(), 2u);
  EXPECT_EQ(times[0].name, "norm");
  EXPECT_EQ(times[0].count, 2);
  EXPECT_EQ(times[1].name, "norm and quant");
  EXPECT_EQ(times[1].count, 2);
  EXPECT_GE(times[0].ms, 0.0);
  EXPECT_GE(times[1].ms, 0.0);
  EXPECT_EQ(graphs.stats().last_nodes, 2) << "the captured step holds its kernels, no event";
  EXPECT_TRUE(CollectPhaseTimes().empty());
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda
