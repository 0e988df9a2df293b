#include "engine/generate/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace dsagent::engine {
namespace {

std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::set<int32_t> Draw(const SamplingParams& params, const std::vector<float>& logits, int n) {
  Sampler s(params);
  std::set<int32_t> seen;
  for (int i = 0; i < n; ++i) seen.insert(s.Sample(logits));
  return seen;
}

TEST(SamplerTest, GreedyIsArgmaxWithTiesToTheLowerId) {
  Sampler greedy({});
  EXPECT_EQ(greedy.Sample(std::vector<float>{0.1f, 2.0f, -1.0f, 2.0f}), 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(greedy.Sample(std::vector<float>{nan, -inf, -3.0f}), 2);
  EXPECT_EQ(Argmax(std::vector<float>{-inf, -inf}), 0);
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferentTokens) {
  const auto logits = LogitsOf({0.25, 0.25, 0.25, 0.25});
  auto run = [&](uint64_t seed) {
    Sampler s({.temperature = 1.0, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.Sample(logits));
    return out;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(SamplerTest, FrequenciesFollowTheDistribution) {
  // Deterministic: a fixed seed gives fixed counts; the bounds only document what they mean.
  Sampler s({.temperature = 1.0, .seed = 42});
  const auto logits = LogitsOf({0.5, 0.3, 0.2});
  int counts[3] = {0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) counts[s.Sample(logits)] += 1;
  EXPECT_NEAR(counts[0] / double(n), 0.5, 0.02);
  EXPECT_NEAR(counts[1] / double(n), 0.3, 0.02);
  EXPECT_NEAR(counts[2] / double(n), 0.2, 0.02);
}

TEST(SamplerTest, TemperatureSharpensAndFlattens) {
  const auto logits = LogitsOf({0.6, 0.4});
  auto share_of_first = [&](double t) {
    Sampler s({.temperature = t, .seed = 1});
    int first = 0;
    for (int i = 0; i < 4000; ++i) first += s.Sample(logits) == 0;
    return first / 4000.0;
  };
  EXPECT_GT(share_of_first(0.2), 0.85);           // 0.6^5 / (0.6^5 + 0.4^5) = 0.88
  EXPECT_NEAR(share_of_first(100.0), 0.5, 0.05);  // nearly uniform
  EXPECT_EQ(Draw({.temperature = 1e-6, .seed = 3}, logits, 200), std::set<int32_t>{0});
}

TEST(SamplerTest, TopKKeepsTheKMostLikely) {
  const auto logits = LogitsOf({0.1, 0.4, 0.2, 0.3});
  EXPECT_EQ(Draw({.temperature = 1, .top_k = 1, .seed = 5}, logits, 300), std::set<int32_t>{1});
  EXPECT_EQ(Draw({.temperature = 1, .top_k = 2, .seed = 5}, logits, 300),
            (std::set<int32_t>{1, 3}));
  EXPECT_EQ(Draw({.temperature = 1, .top_k = 99, .seed = 5}, logits, 300).size(), 4u);
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingP) {
  const auto logits = LogitsOf({0.05, 0.5, 0.15, 0.3});
  EXPECT_EQ(Draw({.temperature = 1, .top_p = 0.5, .seed = 9}, logits, 300), std::set<int32_t>{1});
  EXPECT_EQ(Draw({.temperature = 1, .top_p = 0.79, .seed = 9}, logits, 300),
            (std::set<int32_t>{1, 3}));
  EXPECT_EQ(Draw({.temperature = 1, .top_p = 0.81, .seed = 9}, logits, 300),
            (std::set<int32_t>{1, 2, 3}));
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheBest) {
  const auto logits = LogitsOf({0.05, 0.5, 0.15, 0.3});
  // floor = 0.25 * 0.5 = 0.125: 0.05 goes.
  EXPECT_EQ(Draw({.temperature = 1, .min_p = 0.25, .seed = 11}, logits, 400),
            (std::set<int32_t>{1, 2, 3}));
  // floor = 0.5 * 0.5 = 0.25: only 0.5 and 0.3 stay.
  EXPECT_EQ(Draw({.temperature = 1, .min_p = 0.5, .seed = 11}, logits, 400),
            (std::set<int32_t>{1, 3}));
}

TEST(SamplerTest, MaskedTokensAreNeverDrawn) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {-inf, 0.0f, -inf, 0.0f};
  EXPECT_EQ(Draw({.temperature = 1, .seed = 2}, logits, 300), (std::set<int32_t>{1, 3}));
}

TEST(SamplerTest, BadParametersAreNamed) {
  EXPECT_TRUE(CheckSamplingParams({}));
  const auto error = [](const SamplingParams& p) {
    auto checked = CheckSamplingParams(p);
    return checked ? std::string("(accepted)") : checked.error();
  };
  EXPECT_NE(error({.top_p = 0}).find("top_p"), std::string::npos);
  EXPECT_NE(error({.min_p = 1}).find("min_p"), std::string::npos);
  EXPECT_NE(error({.temperature = std::nan("")}).find("temperature"), std::string::npos);
}

// Distribution() is what Sample() draws from: the same seed gives the same token through either.
TEST(SamplerTest, DistributionIsWhatSampleDrawsFrom) {
  const auto logits = LogitsOf({0.1, 0.4, 0.2, 0.3});
  const SamplingParams params{.temperature = 0.7, .top_k = 3, .seed = 11};
  Sampler direct(params), via(params);
  const TokenDistribution d = via.Distribution(logits);
  ASSERT_EQ(d.ids, (std::vector<int32_t>{1, 3, 2}));  // most likely first, top-k 3
  double sum = 0;
  for (int32_t id : d.ids) sum += d.Prob(id);
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_EQ(d.Prob(0), 0);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(direct.Sample(logits), d.Pick(via.Uniform()));
}

TokenDistribution Dist(std::vector<int32_t> ids, std::vector<double> probs) {
  TokenDistribution d{.ids = std::move(ids), .weights = std::move(probs)};
  for (double w : d.weights) d.total += w;
  return d;
}

// The acceptance step on hand-made p and q. p = {7: 0.5, 8: 0.3, 9: 0.2}, q = {7: 0.4, 8: 0.1,
// 9: 0.5}: drafts 7 and 8 (q <= p) are always kept; draft 9 is kept when u < p/q = 0.4, else the
// token comes from max(0, p - q) = {7: 0.1, 8: 0.2, 9: 0} / 0.3, i.e. 7 for u < 1/3, 8 after.
TEST(SpeculativeAcceptanceTest, KeepsWhenQIsAtMostPElseDrawsFromTheResidual) {
  const TokenDistribution p = Dist({7, 8, 9}, {0.5, 0.3, 0.2});
  const TokenDistribution q = Dist({9, 7, 8}, {0.5, 0.4, 0.1});
  for (const double u : {0.0, 0.5, 0.999999}) {
    EXPECT_TRUE(VerifyDraft(p, q, 7, u, 0.5).accepted);
    EXPECT_EQ(VerifyDraft(p, q, 8, u, 0.5).token, 8);
  }
  EXPECT_TRUE(VerifyDraft(p, q, 9, 0.39, 0.9).accepted);
  EXPECT_EQ(VerifyDraft(p, q, 9, 0.39, 0.9).token, 9);
  const DraftVerdict low = VerifyDraft(p, q, 9, 0.41, 0.30);
  EXPECT_FALSE(low.accepted);
  EXPECT_EQ(low.token, 7);
  EXPECT_EQ(VerifyDraft(p, q, 9, 0.41, 0.34).token, 8);
  EXPECT_EQ(VerifyDraft(p, q, 9, 0.41, 0.999).token, 8);  // 9 has no residual mass
}

// A draft p rules out is never kept, and a source that only names a token (q certain of it)
// gets it kept with probability p(x), else a token from p without x.
TEST(SpeculativeAcceptanceTest, DraftOutsidePAndACertainDraft) {
  const TokenDistribution p = Dist({1, 2}, {0.75, 0.25});
  const DraftVerdict outside = VerifyDraft(p, Dist({5}, {1.0}), 5, 0.0, 0.9);
  EXPECT_FALSE(outside.accepted);
  EXPECT_EQ(outside.token, 2);  // the residual is p itself: 0.9 falls past 0.75
  const TokenDistribution certain = Dist({1}, {1.0});
  EXPECT_TRUE(VerifyDraft(p, certain, 1, 0.74, 0.0).accepted);
  const DraftVerdict rejected = VerifyDraft(p, certain, 1, 0.76, 0.0);
  EXPECT_FALSE(rejected.accepted);
  EXPECT_EQ(rejected.token, 2);  // the residual {2: 0.25}
}

// The whole rule, integrated over its two uniforms on a fine grid: draft x ~ q, kept for the
// share of u_accept that VerifyDraft keeps, else a token for each u_residual. The result is
// distributed as p for any q (reversed, overlapping, disjoint and identical supports); taking the
// residual from p instead of max(0, p - q) would be off by more than 0.05 on the first two.
TEST(SpeculativeAcceptanceTest, TheOutputIsDistributedAsP) {
  const TokenDistribution p = Dist({0, 1, 2, 3}, {0.4, 0.3, 0.2, 0.1});
  for (const TokenDistribution& q :
       {Dist({3, 2, 1, 0}, {0.4, 0.3, 0.2, 0.1}), Dist({2, 4}, {0.7, 0.3}),
        Dist({5, 6}, {0.5, 0.5}), Dist({0, 1, 2, 3}, {0.4, 0.3, 0.2, 0.1})}) {
    constexpr int kGrid = 10000;
    std::vector<double> out(8, 0);
    for (size_t i = 0; i < q.ids.size(); ++i) {
      const int32_t x = q.ids[i];
      const double qx = q.weights[i] / q.total;
      int kept = 0;
      for (int a = 0; a < kGrid; ++a) kept += VerifyDraft(p, q, x, (a + 0.5) / kGrid, 0).accepted;
      out[x] += qx * kept / kGrid;
      if (kept == kGrid) continue;
      for (int r = 0; r < kGrid; ++r) {  // u_accept near 1: rejected wherever rejection can be
        const DraftVerdict v = VerifyDraft(p, q, x, 1 - 1e-12, (r + 0.5) / kGrid);
        ASSERT_FALSE(v.accepted);
        out[v.token] += qx * (1 - static_cast<double>(kept) / kGrid) / kGrid;
      }
    }
    for (int32_t t = 0; t < 8; ++t) EXPECT_NEAR(out[t], p.Prob(t), 1e-3) << "token " << t;
  }
}

}  // namespace
}  // namespace dsagent::engine
