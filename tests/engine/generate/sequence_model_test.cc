// The SequenceModel seam is real: generation, batching, MTP drafting and the prefix cache run on
// a second, test-only implementation — one that wraps the CPU one behind sequences of its own and
// hands the host layout out and takes it in only as copies (HostState as a "download",
// SequenceFrom as an "upload"), as a device implementation would — and give the same tokens as
// the CPU implementation on the golden tiny checkpoints. A path that handed the CPU model a
// sequence it did not make would fail here (CpuSequenceModel refuses them).
#include "engine/generate/sequence_model.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/generate/chat_completion.h"
#include "engine/generate/cpu_sequence_model.h"
#include "engine/generate/forward_batcher.h"
#include "engine/generate/generator.h"
#include "engine/generate/prefix_cache.h"
#include "tests/engine/generate/tiny_model.h"

namespace dsagent::engine {
namespace {
using testing::TinyModel;
using testing::TinySequenceModel;
using testing::TinyTokenizer;

// Calls of each kind the elsewhere-kept model served.
struct CallCounts {
  std::atomic<int64_t> forward{0}, last_row_only{0}, batches{0}, take_backs{0}, mtp{0},
      downloads{0}, uploads{0};
};

// A sequence whose state lives behind a CPU sequence it owns, copied out on HostState like a
// device download, never handed out in place.
class ElsewhereSequence final : public ModelSequence {
 public:
  ElsewhereSequence(const SequenceModel& owner, std::unique_ptr<ModelSequence> inner,
                    CallCounts& counts)
      : ModelSequence(owner), inner_(std::move(inner)), counts_(counts) {}

  int64_t pos() const override { return inner_->pos(); }
  int64_t mtp_pos() const override { return inner_->mtp_pos(); }
  Expected<const forward::SequenceState*, std::string> HostState() override {
    auto state = inner_->HostState();
    if (!state) return state;
    downloaded_ = **state;  // a copy, as from device memory
    ++counts_.downloads;
    return &downloaded_;
  }

  ModelSequence& inner() { return *inner_; }

 private:
  std::unique_ptr<ModelSequence> inner_;
  forward::SequenceState downloaded_;
  CallCounts& counts_;
};

class ElsewhereModel final : public SequenceModel {
 public:
  explicit ElsewhereModel(SequenceModel& inner) : inner_(inner) {}

  const ModelConfig& config() const override { return inner_.config(); }
  std::unique_ptr<ModelSequence> NewSequence() override {
    return std::make_unique<ElsewhereSequence>(*this, inner_.NewSequence(), counts);
  }
  Expected<std::unique_ptr<ModelSequence>, std::string> SequenceFrom(
      forward::SequenceState state) override {
    ++counts.uploads;
    auto inner = inner_.SequenceFrom(forward::SequenceState(state));  // a copy: an upload
    if (!inner) return MakeUnexpected(inner.error());
    return std::unique_ptr<ModelSequence>(
        std::make_unique<ElsewhereSequence>(*this, std::move(*inner), counts));
  }
  Expected<std::vector<float>, std::string> Forward(ModelSequence& sequence,
                                                    std::span<const int32_t> tokens,
                                                    const StepOptions& options) override {
    ++counts.forward;
    if (options.last_row_only) ++counts.last_row_only;
    return inner_.Forward(Own(sequence), tokens, options);
  }
  Expected<std::vector<std::vector<float>>, std::string> ForwardBatch(
      std::span<const SequenceStep> steps) override {
    ++counts.batches;
    std::vector<SequenceStep> inner;
    for (const SequenceStep& s : steps) inner.push_back({&Own(*s.sequence), s.tokens});
    return inner_.ForwardBatch(inner);
  }
  Expected<Ok, std::string> TakeBackLastRow(ModelSequence& sequence) override {
    ++counts.take_backs;
    return inner_.TakeBackLastRow(Own(sequence));
  }
  Expected<std::vector<float>, std::string> ForwardMtpLast(
      ModelSequence& sequence, std::span<const float> streams,
      std::span<const int32_t> next_tokens) override {
    ++counts.mtp;
    return inner_.ForwardMtpLast(Own(sequence), streams, next_tokens);
  }

  CallCounts counts;

 private:
  ModelSequence& Own(ModelSequence& sequence) {
    EXPECT_EQ(&sequence.model(), this) << "a sequence made by another model";
    return static_cast<ElsewhereSequence&>(sequence).inner();
  }

  SequenceModel& inner_;
};

const std::vector<int32_t> kModelPrompt = {0, 3, 300, 17, 45, 290, 100, 101, 4, 6};

std::vector<int32_t> MustGenerate(SequenceModel& model, const GenerateOptions& options,
                                  const std::vector<int32_t>& prompt = kModelPrompt) {
  Generator g(model, &TinyTokenizer());
  auto r = g.Generate(*model.NewSequence(), prompt, options);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return r ? r->tokens : std::vector<int32_t>{};
}

TEST(SequenceModelTest, GeneratorGivesTheCpuTokensOnAnotherImplementation) {
  ElsewhereModel elsewhere(TinySequenceModel());
  // A prompt of two prefill chunks, so that PrefillInChunks runs more than once.
  std::vector<int32_t> long_prompt = {0};
  for (int i = 1; i < static_cast<int>(kPrefillChunkTokens) + 40; ++i) {
    long_prompt.push_back((i * 53 + 7) % 509);
  }
  const GenerateOptions greedy{.max_tokens = 24};
  const GenerateOptions seeded{.sampling = {.temperature = 0.8, .top_p = 0.95, .seed = 7},
                               .max_tokens = 24};
  for (const GenerateOptions& o : {greedy, seeded}) {
    const auto want = MustGenerate(TinySequenceModel(), o, long_prompt);
    ASSERT_EQ(want.size(), 24u);
    EXPECT_EQ(MustGenerate(elsewhere, o, long_prompt), want);
  }
  EXPECT_EQ(elsewhere.counts.last_row_only, 2 * 2);   // two chunks per generation
  EXPECT_EQ(elsewhere.counts.forward, 2 * (2 + 24));  // + the last prompt token, 23 decode steps
}

// The prefix cache keeps host states: a state stored from one implementation is restored by
// the other, and either way the continuation is a cold CPU run's.
TEST(SequenceModelTest, PrefixCacheRoundTripsBetweenImplementations) {
  ElsewhereModel elsewhere(TinySequenceModel());
  ChatRequest req;
  req.messages = OrderedJson::parse(
      R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}])");
  req.generate.max_tokens = 16;
  ChatCompleter cold(TinySequenceModel(), TinyTokenizer(), nullptr);
  auto reference = cold.Complete(req);
  ASSERT_TRUE(reference) << reference.error().message;

  InMemoryPrefixCache cache;
  ChatCompleter on_elsewhere(elsewhere, TinyTokenizer(), &cache);
  ChatCompleter on_cpu(TinySequenceModel(), TinyTokenizer(), &cache);
  auto first = on_elsewhere.Complete(req);  // cold: stores the prefill and the final states
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->generation.tokens, reference->generation.tokens);
  EXPECT_EQ(first->usage.prompt_cache_hit_tokens, 0);
  EXPECT_GE(elsewhere.counts.downloads, 2);
  EXPECT_EQ(elsewhere.counts.uploads, 0);

  auto from_cpu = on_cpu.Complete(req);  // restores what the other implementation stored
  ASSERT_TRUE(from_cpu) << from_cpu.error().message;
  EXPECT_EQ(from_cpu->usage.prompt_cache_hit_tokens, from_cpu->usage.prompt_tokens - 1);
  EXPECT_EQ(from_cpu->generation.tokens, reference->generation.tokens);

  auto again = on_elsewhere.Complete(req);  // and back
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(elsewhere.counts.uploads, 1);
  EXPECT_EQ(again->usage.prompt_cache_hit_tokens, again->usage.prompt_tokens - 1);
  EXPECT_EQ(again->generation.tokens, reference->generation.tokens);
}

// Speculative decoding (MTP drafts, rows taken back) and batched decode go through the
// interface too.
TEST(SequenceModelTest, SpeculativeAndBatchedDecodingRunOnAnotherImplementation) {
  auto loaded = forward::Model::Load(
      std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny-c", {.threads = 1});
  ASSERT_TRUE(loaded) << loaded.error();
  CpuSequenceModel cpu(**loaded);
  ElsewhereModel elsewhere(cpu);
  GenerateOptions spec{.max_tokens = 30};
  spec.speculative = Speculative::kMtp;
  const auto plain = MustGenerate(cpu, {.max_tokens = 30});
  EXPECT_EQ(MustGenerate(elsewhere, spec), plain);
  EXPECT_GT(elsewhere.counts.mtp, 0);
  EXPECT_GT(elsewhere.counts.take_backs, 0);  // random weights: most drafts are rejected

  using namespace std::chrono_literals;
  ForwardBatcher batcher(elsewhere, {.max_batch = 2, .gather_window = 600s});
  std::vector<std::vector<int32_t>> got(2);
  {
    ForwardBatcher::Member hold(batcher);  // keeps the first steps waiting for both
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        GenerateOptions o{.max_tokens = 12};
        o.batcher = &batcher;
        got[i] = MustGenerate(elsewhere, o, {0, static_cast<int32_t>(5 + i), 9});
      });
    }
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(got[0], MustGenerate(cpu, {.max_tokens = 12}, {0, 5, 9}));
  EXPECT_EQ(got[1], MustGenerate(cpu, {.max_tokens = 12}, {0, 6, 9}));
  EXPECT_GT(elsewhere.counts.batches, 0);
}

TEST(SequenceModelTest, ASequenceOfAnotherModelIsRefused) {
  ElsewhereModel elsewhere(TinySequenceModel());
  const auto foreign = elsewhere.NewSequence();
  const int32_t token[1] = {5};
  auto out = TinySequenceModel().Forward(*foreign, token, {});
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().find("another model"), std::string::npos) << out.error();
  // A state of another shape is refused when it is made into a sequence.
  forward::SequenceState wrong = TinyModel().NewSequence();
  wrong.layers.pop_back();
  auto made = TinySequenceModel().SequenceFrom(std::move(wrong));
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().find("layers"), std::string::npos) << made.error();
}

}  // namespace
}  // namespace dsagent::engine
