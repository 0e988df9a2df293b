// Speculative decoding (GenerateOptions::speculative, DraftSource) gives exactly plain decoding's
// tokens and leaves the same main state, on both golden checkpoints in exact numerics (where
// prefill-then-decode equals one prefill), greedy and seeded sampling alike.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include "engine/generate/cpu_sequence_model.h"
#include "engine/generate/generator.h"
#include "engine/generate/mtp_drafter.h"
#include "tests/engine/forward/state_checks.h"
#include "tests/engine/generate/scripted_drafts.h"

namespace dsagent::engine::speculative_test {  // named: the test binary builds as a unity
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ScriptedDrafts;

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
  CpuSequenceModel cpu(model);
  const auto sequence = cpu.NewSequence();
  Generator g(cpu, nullptr);
  auto r = g.Generate(*sequence, prompt, options);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  Decoded run{{}, **sequence->HostState()};
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
  CpuSequenceModel cpu(model);
  const auto state = cpu.NewSequence();
  ASSERT_TRUE(cpu.Forward(*state, std::span(kPrompt).first(5), {}));
  Generator g(cpu, nullptr);
  GenerateOptions spec = Greedy(10);
  spec.speculative = Speculative::kMtp;
  auto copy = cpu.SequenceFrom(**state->HostState());
  ASSERT_TRUE(copy) << copy.error();
  auto fast = g.Generate(*state, std::span(kPrompt).subspan(5), spec);
  auto plain = g.Generate(**copy, std::span(kPrompt).subspan(5), Greedy(10));
  ASSERT_TRUE(fast && plain);
  EXPECT_EQ(fast->tokens, plain->tokens);
  EXPECT_EQ(fast->drafted, 0);
  EXPECT_THAT(fast->speculative_off, HasSubstr("MTP state is at position 0"));
}

// Drafts from the main model's own next-token logits, distorted (a flatter temperature and a
// fixed tilt per token): a q that overlaps p without equalling it, so that both verdicts of the
// standard rule are common. (The MTP block of a random-weight checkpoint gives a q nearly
// disjoint from p: its drafts are almost always rejected.)
class DistortedOracleDrafts : public DraftSource {
 public:
  DistortedOracleDrafts(forward::Model& model, const forward::SequenceState& state)
      : model_(model), state_(state) {}
  Expected<Ok, std::string> Fed(std::span<const int32_t> tokens, std::span<const float>) override {
    auto out = model_.Forward(state_, tokens);
    if (!out) return MakeUnexpected(out.error());
    return Ok{};
  }
  Expected<DraftGuess, std::string> Draft(int32_t token) override {
    forward::SequenceState s = state_;
    const int32_t one[1] = {token};
    auto logits = model_.Forward(s, one);
    if (!logits) return MakeUnexpected(logits.error());
    for (size_t t = 0; t < logits->size(); ++t) {
      const auto tilt = static_cast<float>(static_cast<int>((t * 2654435761u >> 16) % 7) - 3);
      (*logits)[t] = 0.6f * (*logits)[t] + 0.4f * tilt;
    }
    return DraftGuess{Argmax(*logits), std::move(*logits)};
  }

 private:
  forward::Model& model_;
  forward::SequenceState state_;
};

// The standard acceptance rule (speculative sampling) keeps plain sampling's distribution, not
// its tokens. Over many seeds, the second generated token (the first one a verify step decides:
// the draft kept with probability min(1, p/q), else a token from max(0, p - q)) must follow the
// main model's distribution after the first token. Its expected counts come from the model
// itself — p(. | t0) for each first token t0 drawn — and a Pearson chi-squared test compares
// them with the counts seen. Two drafters: the MTP block (the path `--speculative mtp` takes;
// nearly every draft rejected) and DistortedOracleDrafts (about half kept), with which a
// residual drawn from p instead of max(0, p - q) fails the test. Plain sampling's counts pass
// the same test (the check is of the rule, not of luck).
TEST(SpeculativeDecodingTest, StandardRuleSamplesPlainDecodingsDistribution) {
  forward::Model& model = Golden("v4-tiny");
  const SamplingParams params{.temperature = 1.5, .top_k = 8};
  // The state after all prompt tokens but the last, MTP part level: each run starts from a copy.
  forward::SequenceState start = model.NewSequence();
  forward::ForwardTrace trace;
  ASSERT_TRUE(model.Forward(start, std::span(kPrompt).first(kPrompt.size() - 1), &trace));
  ASSERT_TRUE(model.ForwardMtp(start, trace.final_streams, std::span(kPrompt).subspan(1)));
  ASSERT_EQ(start.mtp_pos, start.pos);
  const std::span<const int32_t> last = std::span(kPrompt).last(1);
  const auto vocab = static_cast<size_t>(model.config().vocab_size);

  std::map<int32_t, std::vector<double>> p_after;  // p(. | t0), dense over the vocabulary
  const auto expected_after = [&](int32_t t0) -> const std::vector<double>& {
    auto& p = p_after[t0];
    if (p.empty()) {
      forward::SequenceState s = start;
      EXPECT_TRUE(model.Forward(s, last));
      const int32_t first[1] = {t0};
      auto logits = model.Forward(s, first);
      EXPECT_TRUE(logits);
      const TokenDistribution d = Sampler(params).Distribution(*logits);
      p.assign(vocab, 0.0);
      for (int32_t id : d.ids) p[static_cast<size_t>(id)] = d.Prob(id);
    }
    return p;
  };
  // Pearson's statistic of the second tokens of `runs` against their expected counts, over the
  // tokens expected at least 5 times (the rest pooled), and its degrees of freedom.
  const auto chi_squared = [&](const std::vector<std::vector<int32_t>>& runs) {
    std::vector<double> expected(vocab, 0.0), seen(vocab, 0.0);
    for (const auto& tokens : runs) {
      const auto& p = expected_after(tokens[0]);
      for (size_t t = 0; t < vocab; ++t) expected[t] += p[t];
      seen[static_cast<size_t>(tokens[1])] += 1;
    }
    double stat = 0, pooled_e = 0, pooled_o = 0;
    int bins = 0;
    for (size_t t = 0; t < vocab; ++t) {
      if (expected[t] >= 5) {
        stat += (seen[t] - expected[t]) * (seen[t] - expected[t]) / expected[t];
        ++bins;
      } else {
        pooled_e += expected[t];
        pooled_o += seen[t];
      }
    }
    stat += (pooled_o - pooled_e) * (pooled_o - pooled_e) / std::max(pooled_e, 1.0);
    return std::pair<double, int>(stat, bins);  // bins + the pooled one, less one
  };
  // The chi-squared quantile at 1 - 0.001 (Wilson-Hilferty): a correct sampler fails it for one
  // seed set in a thousand; the seeds are fixed, so the test is deterministic.
  const auto critical = [](int df) {
    const double k = df, z = 3.09;
    const double c = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
    return k * c * c * c;
  };

  constexpr int kRuns = 500;
  CpuSequenceModel cpu(model);
  Generator g(cpu, nullptr);
  // Second tokens of kRuns seeded runs: plain (drafter kOff), the MTP block's, the oracle's.
  enum class Drafter { kNone, kMtp, kOracle };
  for (const Drafter drafter : {Drafter::kNone, Drafter::kMtp, Drafter::kOracle}) {
    std::vector<std::vector<int32_t>> runs;
    int64_t drafted = 0, accepted = 0;
    for (int seed = 0; seed < kRuns; ++seed) {
      GenerateOptions options{.sampling = params, .max_tokens = 2};
      options.sampling.seed = static_cast<uint64_t>(seed);
      options.speculative_acceptance = SpeculativeAcceptance::kStandard;
      std::optional<DistortedOracleDrafts> oracle;
      if (drafter == Drafter::kMtp) options.speculative = Speculative::kMtp;
      if (drafter == Drafter::kOracle) options.drafts = &oracle.emplace(model, start);
      auto state = cpu.SequenceFrom(start);
      ASSERT_TRUE(state) << state.error();
      auto r = g.Generate(**state, last, options);
      ASSERT_TRUE(r) << r.error();
      ASSERT_EQ(r->tokens.size(), 2u);
      ASSERT_EQ(r->speculative_off, "");
      runs.push_back(r->tokens);
      drafted += r->drafted;
      accepted += r->accepted;
    }
    const auto [stat, df] = chi_squared(runs);
    const int which = static_cast<int>(drafter);
    ASSERT_GE(df, 10) << which;
    EXPECT_LT(stat, critical(df)) << "drafter " << which << ": df " << df << ", accepted "
                                  << accepted << " of " << drafted;
    std::printf("drafter %d: chi2 %.1f (df %d, critical %.1f), accepted %lld of %lld\n", which,
                stat, df, critical(df), static_cast<long long>(accepted),
                static_cast<long long>(drafted));
    if (drafter == Drafter::kNone) continue;
    EXPECT_EQ(drafted, kRuns);          // one verify step per run
    if (drafter == Drafter::kOracle) {  // both verdicts common
      EXPECT_GT(accepted, kRuns / 5);
      EXPECT_LT(accepted, kRuns * 4 / 5);
    }
  }
}

// The standard rule at temperature 0 is the match rule: greedy tokens are plain decoding's.
TEST(SpeculativeDecodingTest, StandardRuleIsTheMatchRuleWhenGreedy) {
  forward::Model& model = Golden("v4-tiny-c");
  const Decoded plain = MustGenerate(model, Greedy(24));
  GenerateOptions spec = Greedy(24);
  spec.speculative = Speculative::kMtp;
  spec.speculative_acceptance = SpeculativeAcceptance::kStandard;
  const Decoded fast = MustGenerate(model, spec);
  EXPECT_EQ(fast.result.tokens, plain.result.tokens);
  EXPECT_GT(fast.result.drafted, 20);
}

// Seeded standard-rule sampling repeats itself, and leaves the MTP state level with the main
// one (what a prefix cache stores and a later speculative call continues from).
TEST(SpeculativeDecodingTest, StandardRuleIsDeterministicForASeed) {
  forward::Model& model = Golden("v4-tiny");
  GenerateOptions spec = Seeded(32);
  spec.speculative = Speculative::kMtp;
  spec.speculative_acceptance = SpeculativeAcceptance::kStandard;
  const Decoded a = MustGenerate(model, spec);
  const Decoded b = MustGenerate(model, spec);
  EXPECT_EQ(a.result.tokens, b.result.tokens);
  EXPECT_EQ(a.result.accepted, b.result.accepted);
  EXPECT_EQ(a.state.mtp_pos, a.state.pos);
  forward::testing::ExpectSameState(a.state, b.state, "same seed");
  // The state continues speculatively (its MTP part kept up).
  CpuSequenceModel cpu(model);
  auto next = cpu.SequenceFrom(a.state);
  ASSERT_TRUE(next) << next.error();
  Generator g(cpu, nullptr);
  const int32_t more[1] = {a.result.tokens.back()};
  auto continued = g.Generate(**next, more, spec);
  ASSERT_TRUE(continued) << continued.error();
  EXPECT_EQ(continued->speculative_off, "");
  EXPECT_GT(continued->drafted, 0);
}

}  // namespace
}  // namespace dsagent::engine::speculative_test
