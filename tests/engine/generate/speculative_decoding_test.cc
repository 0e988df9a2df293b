// Speculative decoding (GenerateOptions::speculative, DraftSource) gives exactly plain decoding's
// tokens and leaves the same main state, on both golden checkpoints in exact numerics (where
// prefill-then-decode equals one prefill), greedy and seeded sampling alike.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "engine/generate/generator.h"
#include "engine/generate/mtp_drafter.h"
#include "tests/engine/forward/state_checks.h"

namespace dsagent::engine::speculative_test {  // named: the test binary builds as a unity
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kData = fs::path(DSAGENT_SOURCE_DIR) / "tests/data";
const std::vector<int32_t> kPrompt = {0, 3, 300, 17, 45, 290, 100, 101, 4, 6, 250, 33, 7};

forward::Model& Golden(const std::string& set) {
  static std::map<std::string, std::unique_ptr<forward::Model>> models;
  auto& m = models[set];
  if (!m) {
    auto loaded = forward::Model::Load(kData / set, {.threads = 2});
    EXPECT_TRUE(loaded) << loaded.error();
    m = std::move(*loaded);
  }
  return *m;
}

struct Decoded {
  GenerateResult result;
  forward::SequenceState state;
};

Decoded MustGenerate(forward::Model& model, const GenerateOptions& options,
                     const std::vector<int32_t>& prompt = kPrompt) {
  Decoded run{{}, model.NewSequence()};
  Generator g(model, nullptr);
  auto r = g.Generate(run.state, prompt, options);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  if (r) run.result = *r;
  return run;
}

GenerateOptions Greedy(int64_t n) { return {.max_tokens = n}; }
GenerateOptions Seeded(int64_t n) {
  return {.sampling = {.temperature = 0.9, .top_k = 50, .top_p = 0.95, .seed = 1234},
          .max_tokens = n};
}

// The MTP block drafts; on random weights it is rarely right, so this checks mostly the rejection
// path and the MTP bookkeeping, over enough steps to cross every block boundary.
TEST(SpeculativeDecodingTest, MtpDraftsGiveExactlyPlainDecodingsTokens) {
  for (const char* set : {"v4-tiny", "v4-tiny-c"}) {
    for (const GenerateOptions& base : {Greedy(48), Seeded(48)}) {
      forward::Model& model = Golden(set);
      const Decoded plain = MustGenerate(model, base);
      GenerateOptions spec = base;
      spec.speculative = Speculative::kMtp;
      const Decoded fast = MustGenerate(model, spec);
      EXPECT_EQ(fast.result.tokens, plain.result.tokens) << set;
      EXPECT_EQ(fast.result.finish, plain.result.finish);
      EXPECT_EQ(fast.result.speculative_off, "");
      EXPECT_GT(fast.result.drafted, 40);  // a draft per token but the first and the last
      EXPECT_LE(fast.result.accepted, fast.result.drafted);
      EXPECT_EQ(plain.result.drafted, 0);
      forward::testing::ExpectSameState(fast.state, plain.state, "after speculative decoding");
    }
  }
}

// Every position goes through the MTP block once, in order, with the token after it: the MTP
// state after speculative decoding equals the MTP block run directly over the main model's final
// streams of the same tokens.
TEST(SpeculativeDecodingTest, MtpStateKeepsStepWithTheMainModel) {
  forward::Model& model = Golden("v4-tiny-c");
  GenerateOptions spec = Greedy(30);
  spec.speculative = Speculative::kMtp;
  const Decoded fast = MustGenerate(model, spec);
  const int64_t n = fast.state.mtp_pos;
  ASSERT_GT(n, static_cast<int64_t>(kPrompt.size()));
  std::vector<int32_t> all = kPrompt;
  all.insert(all.end(), fast.result.tokens.begin(), fast.result.tokens.end());
  forward::SequenceState ref = model.NewSequence();
  forward::ForwardTrace trace;
  ASSERT_TRUE(model.Forward(ref, std::span(all).first(n), &trace));
  const size_t width = static_cast<size_t>(model.config().hc_mult * model.config().dim);
  ASSERT_TRUE(model.ForwardMtp(ref, std::span(trace.final_streams).first(n * width),
                               std::span(all).subspan(1, n)));
  ASSERT_EQ(ref.mtp_pos, n);
  for (size_t m = 0; m < ref.mtp.size(); ++m) {
    EXPECT_EQ(fast.state.mtp[m].window, ref.mtp[m].window);
    EXPECT_EQ(fast.state.mtp[m].compressed, ref.mtp[m].compressed);
    EXPECT_EQ(fast.state.mtp[m].kv_compressor.kv, ref.mtp[m].kv_compressor.kv);
  }
}

// Drafts the tests control: the true next token (from a plain run) except every `wrong`-th
// draft, so that both paths run often — accepted drafts (two tokens per forward call) and
// rejected ones.
class ScriptedDrafts : public DraftSource {
 public:
  ScriptedDrafts(std::vector<int32_t> sequence, int wrong)
      : sequence_(std::move(sequence)), wrong_(wrong) {}
  Expected<Ok, std::string> Fed(std::span<const int32_t> tokens, std::span<const float>) override {
    for (int32_t t : tokens) {
      if (fed_ < sequence_.size()) {
        EXPECT_EQ(t, sequence_[fed_]) << "told a token out of order";
      }
      ++fed_;
    }
    return Ok{};
  }
  Expected<int32_t, std::string> Draft(int32_t token) override {
    EXPECT_EQ(token, sequence_.at(fed_));
    const int32_t right = fed_ + 1 < sequence_.size() ? sequence_[fed_ + 1] : 0;
    return ++drafts_ % wrong_ == 0 ? (right + 1) % 512 : right;
  }

 private:
  std::vector<int32_t> sequence_;
  int wrong_;
  size_t fed_ = 0;
  int drafts_ = 0;
};

TEST(SpeculativeDecodingTest, AcceptedDraftsGiveExactlyPlainDecodingsTokensAndState) {
  for (const char* set : {"v4-tiny", "v4-tiny-c"}) {
    for (const GenerateOptions& base : {Greedy(41), Seeded(41), Greedy(40), Seeded(40)}) {
      forward::Model& model = Golden(set);
      const Decoded plain = MustGenerate(model, base);
      std::vector<int32_t> sequence = kPrompt;
      sequence.insert(sequence.end(), plain.result.tokens.begin(), plain.result.tokens.end());
      ScriptedDrafts drafts(sequence, 3);
      GenerateOptions spec = base;
      spec.drafts = &drafts;
      const Decoded fast = MustGenerate(model, spec);
      EXPECT_EQ(fast.result.tokens, plain.result.tokens) << set;
      // Two of three drafts are right; each right one saves a forward call.
      EXPECT_GT(fast.result.accepted, 10);
      EXPECT_LT(fast.result.accepted, fast.result.drafted);
      // The state holds every token but the last, also when the last came from an accepted
      // draft (its row is taken back): max_tokens 40 and 41 end on either kind of step.
      forward::testing::ExpectSameState(fast.state, plain.state, "after speculative decoding");
    }
  }
}

// A state restored from a plain prefill has an MTP state that lags: the call decodes plainly and
// says why.
TEST(SpeculativeDecodingTest, LaggingMtpStateFallsBackToPlainDecoding) {
  forward::Model& model = Golden("v4-tiny");
  forward::SequenceState state = model.NewSequence();
  ASSERT_TRUE(model.Forward(state, std::span(kPrompt).first(5)));
  Generator g(model, nullptr);
  GenerateOptions spec = Greedy(10);
  spec.speculative = Speculative::kMtp;
  forward::SequenceState copy = state;
  auto fast = g.Generate(state, std::span(kPrompt).subspan(5), spec);
  auto plain = g.Generate(copy, std::span(kPrompt).subspan(5), Greedy(10));
  ASSERT_TRUE(fast && plain);
  EXPECT_EQ(fast->tokens, plain->tokens);
  EXPECT_EQ(fast->drafted, 0);
  EXPECT_THAT(fast->speculative_off, HasSubstr("MTP state is at position 0"));
}

}  // namespace
}  // namespace dsagent::engine::speculative_test
