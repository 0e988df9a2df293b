#include "engine/generate/generator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "common/utf8.h"
#include "engine/forward/logits_runner.h"
#include "tests/engine/generate/tiny_model.h"

namespace dsagent::engine {
namespace {
using testing::TinyModel;
using testing::TinySequenceModel;
using testing::TinyTokenizer;

const std::vector<int32_t> kPrompt = {0, 3, 300, 17, 45, 290, 100, 101, 4, 6};

GenerateResult MustGenerate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                            const TokenSink& sink = {}) {
  const auto sequence = TinySequenceModel().NewSequence();
  Generator g(TinySequenceModel(), &TinyTokenizer());
  auto r = g.Generate(*sequence, prompt, options, sink);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return r ? *r : GenerateResult{};
}

// The names `dsagent engine generate` prints.
TEST(GeneratorTest, FinishReasonNames) {
  EXPECT_STREQ(FinishReasonName(FinishReason::kStopToken), "stop_token");
  EXPECT_STREQ(FinishReasonName(FinishReason::kStopString), "stop_string");
  EXPECT_STREQ(FinishReasonName(FinishReason::kLength), "length");
  EXPECT_STREQ(FinishReasonName(FinishReason::kCancelled), "cancelled");
}

// Greedy decoding equals the argmax of the logits rows `dsagent engine logits` computes for the
// prompt followed by the generated tokens (teacher forcing): token i+1 is the argmax of the row
// of position |prompt| - 1 + i.
TEST(GeneratorTest, GreedyEqualsTeacherForcedArgmax) {
  const GenerateResult r = MustGenerate(kPrompt, {.max_tokens = 40});
  ASSERT_EQ(r.tokens.size(), 40u);
  EXPECT_EQ(r.finish, FinishReason::kLength);
  std::vector<int32_t> all = kPrompt;
  all.insert(all.end(), r.tokens.begin(), r.tokens.end() - 1);
  auto logits = forward::ComputeLogits(TinyModel(), all, static_cast<int64_t>(kPrompt.size()));
  ASSERT_TRUE(logits) << logits.error();
  const size_t vocab = 512;
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    const size_t row = kPrompt.size() - 1 + i;
    const std::span<const float> l(logits->data() + row * vocab, vocab);
    EXPECT_EQ(r.tokens[i], Argmax(l)) << "step " << i;
  }
}

TEST(GeneratorTest, StreamedTextIsValidUtf8AndEqualsTheResult) {
  std::string streamed;
  int calls = 0;
  const GenerateResult r =
      MustGenerate(kPrompt, {.max_tokens = 60}, [&](int32_t, std::string_view t) {
        streamed += t;
        ++calls;
        return true;
      });
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(SanitizeUtf8(r.text), r.text);
  EXPECT_GE(calls, 60);
}

TEST(GeneratorTest, StopTokenStopsAndIsKept) {
  const GenerateResult free_run = MustGenerate(kPrompt, {.max_tokens = 20});
  const int32_t stop = free_run.tokens[7];
  const size_t first = static_cast<size_t>(
      std::find(free_run.tokens.begin(), free_run.tokens.end(), stop) - free_run.tokens.begin());
  const GenerateResult r = MustGenerate(kPrompt, {.max_tokens = 20, .stop_token_ids = {stop}});
  EXPECT_EQ(r.finish, FinishReason::kStopToken);
  ASSERT_EQ(r.tokens.size(), first + 1);
  EXPECT_EQ(r.tokens.back(), stop);
}

TEST(GeneratorTest, StopStringCutsTheText) {
  const GenerateResult free_run = MustGenerate(kPrompt, {.max_tokens = 30});
  ASSERT_GE(free_run.text.size(), 12u);
  const std::string stop = free_run.text.substr(8, 3);
  const GenerateResult r = MustGenerate(kPrompt, {.max_tokens = 30, .stop = {stop}});
  EXPECT_EQ(r.finish, FinishReason::kStopString);
  EXPECT_EQ(r.matched_stop, stop);
  EXPECT_EQ(r.text, free_run.text.substr(0, free_run.text.find(stop)));
}

TEST(GeneratorTest, CancellationFromTheSinkOrTheToken) {
  int n = 0;
  GenerateResult r =
      MustGenerate(kPrompt, {.max_tokens = 50}, [&](int32_t, std::string_view) { return ++n < 3; });
  EXPECT_EQ(r.finish, FinishReason::kCancelled);
  EXPECT_EQ(r.tokens.size(), 3u);

  GenerateOptions cancelled{.max_tokens = 50};
  cancelled.cancel.Cancel();
  r = MustGenerate(kPrompt, cancelled);
  EXPECT_EQ(r.finish, FinishReason::kCancelled);
  EXPECT_TRUE(r.tokens.empty());
}

TEST(GeneratorTest, ContextLimit) {
  const GenerateResult r = MustGenerate(kPrompt, {.max_tokens = 100, .context_limit = 15});
  EXPECT_EQ(r.finish, FinishReason::kLength);
  EXPECT_EQ(r.tokens.size(), 6u);  // 5 fed (positions 10..14) + the last one sampled

  const auto state = TinySequenceModel().NewSequence();
  Generator g(TinySequenceModel(), &TinyTokenizer());
  auto too_long = g.Generate(*state, kPrompt, {.context_limit = 5});
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().find("context limit is 5"), std::string::npos) << too_long.error();
  EXPECT_FALSE(g.Generate(*state, {}, {}));
  EXPECT_FALSE(g.Generate(*state, kPrompt, {.max_tokens = 0}));
  const std::vector<int32_t> bad = {0, 512};
  auto oov = g.Generate(*state, bad, {});
  ASSERT_FALSE(oov);
  EXPECT_NE(oov.error().find("512"), std::string::npos);
  EXPECT_EQ(state->pos(), 0);
}

TEST(GeneratorTest, ContinuingFromThePrefillSnapshotGivesTheSameTokens) {
  CpuSequenceModel& model = TinySequenceModel();
  const auto state = model.NewSequence();
  forward::SequenceState snapshot;
  Generator g(model, &TinyTokenizer());
  auto first = g.Generate(*state, kPrompt, {.max_tokens = 12}, {},
                          [&](ModelSequence& s) { snapshot = **s.HostState(); });
  ASSERT_TRUE(first);
  EXPECT_EQ(snapshot.pos, static_cast<int64_t>(kPrompt.size()) - 1);
  EXPECT_EQ(state->pos(), static_cast<int64_t>(kPrompt.size() + 11));
  const std::vector<int32_t> last = {kPrompt.back()};
  auto restored = model.SequenceFrom(std::move(snapshot));
  ASSERT_TRUE(restored) << restored.error();
  auto again = g.Generate(**restored, last, {.max_tokens = 12});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->tokens, first->tokens);
}

TEST(GeneratorTest, SeededSamplingIsReproducible) {
  const GenerateOptions o{.sampling = {.temperature = 0.8, .top_p = 0.95, .seed = 1234},
                          .max_tokens = 25};
  EXPECT_EQ(MustGenerate(kPrompt, o).tokens, MustGenerate(kPrompt, o).tokens);
}

TEST(GeneratorTest, DecodeSpeedIsReported) {
  const GenerateResult r = MustGenerate(kPrompt, {.max_tokens = 64});
  const double tps = static_cast<double>(r.tokens.size()) / r.decode_seconds;
  std::printf("tiny model, 1 thread: prefill %lld tokens %.1f ms, decode %.0f tokens/s\n",
              static_cast<long long>(r.prompt_tokens), r.prefill_seconds * 1e3, tps);
  ::testing::Test::RecordProperty("decode_tokens_per_second", static_cast<int>(tps));
  EXPECT_GT(tps, 1.0);
}

}  // namespace
}  // namespace dsagent::engine
