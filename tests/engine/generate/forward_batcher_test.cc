// ForwardBatcher: concurrent generations' decode steps run as batched forward calls, and every
// generation gets exactly the tokens it gets alone. With a gathering window far longer than any
// step, a batch runs only once every member has sent its step (or left), so which steps share a
// call does not depend on timing and the tests can count the calls.
#include "engine/generate/forward_batcher.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>

#include "engine/generate/generator.h"
#include "tests/engine/generate/tiny_model.h"

namespace dsagent::engine {
namespace {
using namespace std::chrono_literals;
using testing::TinyModel;
using testing::TinySequenceModel;
using testing::TinyTokenizer;

std::vector<int32_t> Prompt(int n, int seed) {
  std::vector<int32_t> t = {0};
  for (int i = 1; i < n; ++i) t.push_back((i * 53 + seed * 17 + 7) % 509);
  return t;
}

// n members, joined before any of them steps (so which steps share a call does not depend on
// when the threads start).
std::vector<std::unique_ptr<ForwardBatcher::Member>> JoinAll(ForwardBatcher& batcher, int n) {
  std::vector<std::unique_ptr<ForwardBatcher::Member>> members;
  for (int m = 0; m < n; ++m) members.push_back(std::make_unique<ForwardBatcher::Member>(batcher));
  return members;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp with an empty vector's null data() is undefined (UBSan reports it), hence the size test.
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Members stepping their own sequences from their own threads get the logits of each sequence
// stepped alone, and every call carries all members' steps.
TEST(ForwardBatcherTest, MembersSteppingTogetherShareEveryCallAndKeepTheirBits) {
  forward::Model& model = TinyModel();
  CpuSequenceModel& cpu = TinySequenceModel();
  ForwardBatcher batcher(cpu, {.max_batch = 8, .gather_window = 600s});
  constexpr int kMembers = 3, kSteps = 12;
  std::vector<std::vector<std::vector<float>>> got(kMembers), want(kMembers);
  for (int m = 0; m < kMembers; ++m) {
    forward::SequenceState alone = model.NewSequence();
    ASSERT_TRUE(model.Forward(alone, Prompt(5 + 4 * m, m)));
    for (int s = 0; s < kSteps; ++s) {
      const int32_t token[1] = {(s * 31 + m * 7 + 3) % 509};
      auto l = model.Forward(alone, token);
      ASSERT_TRUE(l) << l.error();
      want[m].push_back(*l);
    }
  }
  // Every member joins before any steps, so each call waits for all of them.
  auto members = JoinAll(batcher, kMembers);
  std::vector<std::thread> threads;
  for (int m = 0; m < kMembers; ++m) {
    threads.emplace_back([&, m] {
      const auto state = cpu.NewSequence();
      ASSERT_TRUE(cpu.Forward(*state, Prompt(5 + 4 * m, m), {}));
      for (int s = 0; s < kSteps; ++s) {
        const int32_t token[1] = {(s * 31 + m * 7 + 3) % 509};
        auto l = members[m]->Forward(*state, token);
        ASSERT_TRUE(l) << l.error();
        got[m].push_back(*l);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int m = 0; m < kMembers; ++m) {
    ASSERT_EQ(got[m].size(), static_cast<size_t>(kSteps));
    for (int s = 0; s < kSteps; ++s) EXPECT_TRUE(SameBits(got[m][s], want[m][s])) << m << "/" << s;
  }
  const auto stats = batcher.stats();
  EXPECT_EQ(stats.steps, kMembers * kSteps);
  EXPECT_EQ(stats.calls, kSteps);
  EXPECT_EQ(stats.largest, kMembers);
}

// max_batch caps a call; a member that leaves (its generation ended) stops being waited for.
TEST(ForwardBatcherTest, MaxBatchCapsACallAndLeavingMembersAreNotWaitedFor) {
  CpuSequenceModel& cpu = TinySequenceModel();
  ForwardBatcher batcher(cpu, {.max_batch = 2, .gather_window = 600s});
  constexpr int kMembers = 3;
  auto members = JoinAll(batcher, kMembers);
  std::vector<std::thread> threads;
  for (int m = 0; m < kMembers; ++m) {
    threads.emplace_back([&, m] {
      const auto state = cpu.NewSequence();
      ASSERT_TRUE(cpu.Forward(*state, Prompt(4, m), {}));
      for (int s = 0; s < 2 + 3 * m; ++s) {  // members leave after 2, 5 and 8 steps
        const int32_t token[1] = {(s + m) % 509};
        EXPECT_TRUE(members[m]->Forward(*state, token));
      }
      members[m].reset();  // leaves: the others no longer wait for it
    });
  }
  for (auto& t : threads) t.join();
  const auto stats = batcher.stats();
  EXPECT_EQ(stats.steps, 2 + 5 + 8);
  EXPECT_EQ(stats.largest, 2);
}

// Generations through a batcher give the tokens they give alone (greedy and seeded sampling).
TEST(ForwardBatcherTest, ConcurrentGenerationsGiveTheirOwnTokens) {
  CpuSequenceModel& cpu = TinySequenceModel();
  ForwardBatcher batcher(cpu, {.max_batch = 4, .gather_window = 600s});
  constexpr int kGenerations = 4;
  std::vector<GenerateOptions> options(kGenerations);
  for (int i = 0; i < kGenerations; ++i) {
    options[i].max_tokens = 10 + 7 * i;
    options[i].sampling.temperature = i % 2 == 0 ? 0.0f : 0.8f;
    options[i].sampling.seed = 100 + i;
  }
  std::vector<std::vector<int32_t>> want(kGenerations), got(kGenerations);
  for (int i = 0; i < kGenerations; ++i) {
    Generator g(cpu, &TinyTokenizer());
    auto r = g.Generate(*cpu.NewSequence(), Prompt(6 + i, i), options[i]);
    ASSERT_TRUE(r) << r.error();
    want[i] = r->tokens;
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kGenerations; ++i) {
    threads.emplace_back([&, i] {
      Generator g(cpu, &TinyTokenizer());
      GenerateOptions o = options[i];
      o.batcher = &batcher;
      auto r = g.Generate(*cpu.NewSequence(), Prompt(6 + i, i), o);
      ASSERT_TRUE(r) << r.error();
      got[i] = r->tokens;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kGenerations; ++i) EXPECT_EQ(got[i], want[i]) << "generation " << i;
}

// A step the model refuses (an id outside the vocabulary) gets its own error; the step batched
// with it gets its logits.
TEST(ForwardBatcherTest, ARefusedStepFailsAloneAndTheOthersGoOn) {
  CpuSequenceModel& cpu = TinySequenceModel();
  ForwardBatcher batcher(cpu, {.max_batch = 2, .gather_window = 600s});
  Expected<std::vector<float>, std::string> good = std::vector<float>{}, bad = good;
  ForwardBatcher::Member ma(batcher), mb(batcher);  // both join first: one call carries both
  std::thread a([&] {
    const int32_t token[1] = {5};
    good = ma.Forward(*cpu.NewSequence(), token);
  });
  std::thread b([&] {
    const int32_t token[1] = {512};
    bad = mb.Forward(*cpu.NewSequence(), token);
  });
  a.join();
  b.join();
  ASSERT_TRUE(good) << good.error();
  EXPECT_EQ(good->size(), 512u);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("token id 512"), std::string::npos) << bad.error();
  EXPECT_EQ(batcher.stats().largest, 2);
}

}  // namespace
}  // namespace dsagent::engine
