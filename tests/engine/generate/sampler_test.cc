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

}  // namespace
}  // namespace dsagent::engine
