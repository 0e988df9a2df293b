// The CPU backend's ops of the forward pass's mixing, routing, pooling and selection steps
// (kernels/cpu/cpu_ops.h: RmsNormBf16, MoeRoute, CompressorPool, IndexerScores, StableTopK,
// HcPre, HcPost, HcHead, WeightProduct) against independent references written from each op's
// documented arithmetic in kernels/ops.h: long double sums, the test's own bf16 rounding, plain
// sorts and arg-max loops, and a dequantised weight matrix; not the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/cpu/weight_product.h"
#include "engine/kernels/ops.h"
#include "engine/kernels/ops_backend.h"
#include "tests/engine/kernels/random_weights.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels::cpu_ops_forward_test {
namespace {

using reference_rounding::Bits;
using reference_rounding::RandomBf16Values;
using reference_rounding::RefBf16;
using reference_rounding::RefBf16Twice;

class CpuOpsForwardTest : public ::testing::Test {
 protected:
  cpu::ThreadPool pool_{2};
  cpu::CpuOps ops_{pool_};
  std::mt19937 rng_{4321};
};

// fl32(1 / sqrt(v)) from long double.
float RefRsqrt(float v) {
  return static_cast<float>(1.0L / std::sqrt(static_cast<long double>(v)));
}

// ---- RMSNorm with a weight ---------------------------------------------------------------------

TEST_F(CpuOpsForwardTest, RmsNormScalesByTheFp32RsqrtOfTheMeanSquareAndRoundsToBf16) {
  const float eps = 1e-6f;
  for (const int64_t n : {7168LL, 333LL, 1LL}) {
    const int64_t rows = 3;
    std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * n), rng_, 1.5f);
    const std::vector<float> w = RandomBf16Values(static_cast<size_t>(n), rng_, 0.3f);
    std::vector<float> y(x.size());
    ops_.RmsNormBf16(F32Rows(x.data(), rows, n), w.data(), eps, F32Rows(y.data(), rows, n));
    for (int64_t t = 0; t < rows; ++t) {
      long double ss = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[t * n + i];
        ss += static_cast<float>(v * v);  // the square in fp32
      }
      const float mean = static_cast<float>(ss / static_cast<long double>(n));
      const float r = RefRsqrt(mean + eps);
      for (int64_t i = 0; i < n; ++i) {
        const float want = RefBf16(w[i] * (x[t * n + i] * r));
        ASSERT_EQ(Bits(y[t * n + i]), Bits(want)) << "n " << n << " row " << t << " col " << i;
      }
    }
    // In place gives the same bits.
    ops_.RmsNormBf16(F32Rows(x.data(), rows, n), w.data(), eps, F32Rows(x.data(), rows, n));
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(Bits(x[i]), Bits(y[i])) << i;
  }
}

// ---- MoE router
// ----------------------------------------------------------------------------------

// fl32(sigmoid(x)) from long double.
float RefSigmoid(float x) {
  return static_cast<float>(1.0L / (1.0L + std::exp(-static_cast<long double>(x))));
}

// The routing score of one gate product under `func`, from the documented arithmetic.
float RefRouteScore(ScoreFunc func, float x) {
  if (func == ScoreFunc::kSigmoid) return RefSigmoid(x);
  const float softplus =
      x > 20.0f ? x : static_cast<float>(std::log1p(std::exp(static_cast<long double>(x))));
  return static_cast<float>(std::sqrt(static_cast<long double>(softplus)));
}

TEST_F(CpuOpsForwardTest, MoeRoutePicksTheTopKOfScorePlusBiasTiesToTheLowerExpert) {
  const int64_t rows = 4, experts = 64, k = 6;
  std::normal_distribution<float> normal(0.0f, 1.5f);
  for (const ScoreFunc func :
       {ScoreFunc::kSqrtSoftplus, ScoreFunc::kSigmoid, ScoreFunc::kSoftmax}) {
    std::vector<float> logits(static_cast<size_t>(rows * experts)), bias(experts);
    for (float& v : logits) v = normal(rng_);
    for (float& v : bias) v = normal(rng_) / 8;
    for (int64_t t = 0; t < rows; ++t) {  // experts 9 and 3 tie, and both rank first
      logits[t * experts + 3] = logits[t * experts + 9] = 6.0f;
    }
    bias[9] = bias[3] = 1.0f;
    logits[5] = 25.0f;  // softplus's linear branch
    const RouterShape shape{experts, k, func, 2.5f};
    std::vector<float> scores = logits, weights(static_cast<size_t>(rows * k));
    std::vector<int32_t> ids(static_cast<size_t>(rows * k));
    ops_.MoeRoute(F32Rows(scores.data(), rows, experts), shape, bias.data(), nullptr, ids.data(),
                  weights.data());
    for (int64_t t = 0; t < rows; ++t) {
      std::vector<float> s(experts);
      const float* x = logits.data() + t * experts;
      if (func == ScoreFunc::kSoftmax) {
        const long double mx = *std::max_element(x, x + experts);
        long double sum = 0;
        for (int64_t i = 0; i < experts; ++i) sum += std::exp(x[i] - mx);
        for (int64_t i = 0; i < experts; ++i) s[i] = static_cast<float>(std::exp(x[i] - mx) / sum);
      } else {
        for (int64_t i = 0; i < experts; ++i) s[i] = RefRouteScore(func, x[i]);
      }
      for (int64_t i = 0; i < experts; ++i) {
        ASSERT_EQ(Bits(scores[t * experts + i]), Bits(s[i])) << "row " << t << " expert " << i;
      }
      // k rounds of arg-max over fp32(score + bias), the lower expert first on a tie.
      std::vector<bool> taken(experts, false);
      std::vector<int32_t> want;
      for (int64_t j = 0; j < k; ++j) {
        int32_t best = -1;
        for (int32_t i = 0; i < experts; ++i) {
          if (taken[i]) continue;
          if (best < 0 || s[i] + bias[i] > s[best] + bias[best]) best = i;
        }
        taken[best] = true;
        want.push_back(best);
      }
      if (t > 0) {  // row 0's expert 5 outranks the tie
        EXPECT_EQ(want[0], 3);
        EXPECT_EQ(want[1], 9);
      }
      long double sum = 0;
      for (int32_t e : want) sum += s[e];
      for (int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(ids[t * k + j], want[j]) << "row " << t << " slot " << j;
        float w = s[want[j]];
        if (func != ScoreFunc::kSoftmax) w = w / static_cast<float>(sum);
        ASSERT_EQ(Bits(weights[t * k + j]), Bits(w * 2.5f)) << "row " << t << " slot " << j;
      }
    }
  }
}

TEST_F(CpuOpsForwardTest, MoeRouteTakesTheHashLayersExpertsAsGiven) {
  const int64_t rows = 2, experts = 16, k = 3;
  std::vector<float> scores = RandomBf16Values(static_cast<size_t>(rows * experts), rng_, 1.0f);
  const std::vector<float> logits = scores;
  const std::vector<int32_t> hash = {15, 0, 7, 2, 2, 11};  // a repeated expert stays repeated
  std::vector<int32_t> ids(hash.size());
  std::vector<float> weights(hash.size());
  const RouterShape shape{experts, k, ScoreFunc::kSigmoid, 1.0f};
  ops_.MoeRoute(F32Rows(scores.data(), rows, experts), shape, nullptr, hash.data(), ids.data(),
                weights.data());
  EXPECT_EQ(ids, hash);
  for (int64_t t = 0; t < rows; ++t) {
    long double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += RefSigmoid(logits[t * experts + hash[t * k + j]]);
    for (int64_t j = 0; j < k; ++j) {
      const float s = RefSigmoid(logits[t * experts + hash[t * k + j]]);
      EXPECT_EQ(Bits(weights[t * k + j]), Bits(s / static_cast<float>(sum))) << t << "," << j;
    }
  }
}

// ---- compressor pooling ------------------------------------------------------------------------

TEST_F(CpuOpsForwardTest, CompressorPoolIsAChannelSoftmaxOverTheBlocksCandidates) {
  struct Case {
    int64_t ratio, head_dim;
    bool overlap;
  } cases[] = {{4, 40, true}, {4, 40, false}, {128, 24, false}};
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (const Case& c : cases) {
    const int64_t slots = c.overlap ? 2 * c.ratio : c.ratio;
    const int64_t width = c.overlap ? 2 * c.head_dim : c.head_dim;
    std::vector<float> kv(static_cast<size_t>(slots * width)), score(kv.size());
    for (float& v : kv) v = normal(rng_);
    for (float& v : score) v = normal(rng_);
    std::vector<float> entry(static_cast<size_t>(c.head_dim));
    ops_.CompressorPool(F32Rows(kv.data(), slots, width), F32Rows(score.data(), slots, width),
                        c.ratio, c.overlap, F32Rows(entry.data(), 1, c.head_dim));
    for (int64_t ch = 0; ch < c.head_dim; ++ch) {
      // Candidates: column ch of slots [0, ratio), and with overlap column head_dim + ch of slots
      // [ratio, 2 * ratio).
      std::vector<std::pair<float, float>> cand;  // (value, gate logit)
      for (int64_t i = 0; i < slots; ++i) {
        const int64_t col = i >= c.ratio ? c.head_dim + ch : ch;
        cand.emplace_back(kv[i * width + col], score[i * width + col]);
      }
      long double mx = cand[0].second, sum = 0, acc = 0;
      for (const auto& [v, s] : cand) mx = std::max<long double>(mx, s);
      for (const auto& [v, s] : cand) sum += std::exp(s - mx);
      for (const auto& [v, s] : cand) {
        acc += v * static_cast<float>(std::exp(s - mx) / sum);  // fp32 weight and product
      }
      ASSERT_EQ(Bits(entry[ch]), Bits(static_cast<float>(acc)))
          << "ratio " << c.ratio << " overlap " << c.overlap << " channel " << ch;
    }
  }
}

// ---- lightning indexer: scores and top-k --------------------------------------------------------

TEST_F(CpuOpsForwardTest, IndexerScoresSumTheHeadsReluDotsWeightedInBf16) {
  const int64_t heads = 5, hd = 64;
  for (const int64_t entries : {1LL, 37LL, 700LL}) {  // one tile, a tail, several tiles
    const std::vector<float> q = RandomBf16Values(static_cast<size_t>(heads * hd), rng_, 1.0f);
    const std::vector<float> hw = RandomBf16Values(static_cast<size_t>(heads), rng_, 0.5f);
    const std::vector<float> kf = RandomBf16Values(static_cast<size_t>(entries * hd), rng_, 1.0f);
    std::vector<uint16_t> keys(kf.size());
    for (size_t i = 0; i < kf.size(); ++i) keys[i] = static_cast<uint16_t>(Bits(kf[i]) >> 16);
    std::vector<float> score(static_cast<size_t>(entries));
    ops_.IndexerScores(F32Rows(q.data(), heads, hd), hw.data(),
                       Bf16BitRows(keys.data(), entries, hd), F32Rows(score.data(), 1, entries));
    for (int64_t e = 0; e < entries; ++e) {
      long double sum = 0;
      for (int64_t h = 0; h < heads; ++h) {
        long double dot = 0;
        for (int64_t i = 0; i < hd; ++i) {
          dot += static_cast<long double>(q[h * hd + i]) * kf[e * hd + i];
        }
        const float relu = std::max(0.0f, RefBf16Twice(dot));
        sum += RefBf16(relu * hw[h]);  // the product in fp32
      }
      ASSERT_EQ(Bits(score[e]), Bits(RefBf16Twice(sum))) << "entries " << entries << " e " << e;
    }
  }
}

TEST_F(CpuOpsForwardTest, StableTopKIsDescendingWithTiesToTheLowerIndex) {
  std::uniform_int_distribution<int> level(0, 6);  // few distinct values: many ties
  for (const int64_t n : {1LL, 9LL, 300LL}) {
    std::vector<float> score(static_cast<size_t>(n));
    for (float& v : score) v = static_cast<float>(level(rng_)) - 3.0f;
    for (const int64_t k : {1LL, 8LL, 512LL}) {
      std::vector<std::pair<float, int32_t>> ranked;
      for (int32_t i = 0; i < n; ++i) ranked.emplace_back(score[i], i);
      std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      const int64_t want_count = std::min(k, n);
      std::vector<int32_t> out(static_cast<size_t>(want_count) + 1, -7);
      ASSERT_EQ(ops_.StableTopK(F32Rows(score.data(), 1, n), k, out.data()), want_count);
      for (int64_t j = 0; j < want_count; ++j) {
        ASSERT_EQ(out[j], ranked[j].second) << "n " << n << " k " << k << " j " << j;
      }
      EXPECT_EQ(out[want_count], -7) << "wrote past min(k, n)";
    }
  }
}

// ---- hyper-connection mixing
// ---------------------------------------------------------------------

// fl32(1 / sqrt(fl32(mean of the fp32 squares) + eps)) of one token's hc*dim stream values.
float RefStreamRms(const float* x, int64_t n, float eps) {
  long double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<float>(x[i] * x[i]);
  return RefRsqrt(static_cast<float>(ss / static_cast<long double>(n)) + eps);
}

// y [dim] = bf16(fl32(sum_j fl32(weight_j * h_j))).
std::vector<float> RefStreamSum(const float* h, const float* weight, int64_t hc, int64_t dim) {
  std::vector<float> y(static_cast<size_t>(dim));
  for (int64_t d = 0; d < dim; ++d) {
    long double acc = 0;
    for (int64_t j = 0; j < hc; ++j) acc += static_cast<float>(weight[j] * h[j * dim + d]);
    y[d] = RefBf16Twice(acc);
  }
  return y;
}

// Sinkhorn on c [hc, hc] from the documented arithmetic: a row softmax + eps, then `iters` column
// normalisations with iters - 1 row normalisations between them, each a division by fl32(sum) +
// eps.
void RefSinkhorn(std::vector<float>& c, int64_t hc, int iters, float eps) {
  for (int64_t j = 0; j < hc; ++j) {
    long double mx = c[j * hc];
    for (int64_t k = 0; k < hc; ++k) mx = std::max<long double>(mx, c[j * hc + k]);
    long double sum = 0;
    for (int64_t k = 0; k < hc; ++k) sum += std::exp(c[j * hc + k] - mx);
    for (int64_t k = 0; k < hc; ++k) {
      c[j * hc + k] = static_cast<float>(std::exp(c[j * hc + k] - mx) / sum) + eps;
    }
  }
  const auto normalise = [&](bool columns) {
    for (int64_t a = 0; a < hc; ++a) {
      long double sum = 0;
      for (int64_t b = 0; b < hc; ++b) sum += columns ? c[b * hc + a] : c[a * hc + b];
      const float denom = static_cast<float>(sum) + eps;
      for (int64_t b = 0; b < hc; ++b) (columns ? c[b * hc + a] : c[a * hc + b]) /= denom;
    }
  };
  normalise(true);
  for (int it = 1; it < iters; ++it) {
    normalise(false);
    normalise(true);
  }
}

HcShape TestHcShape() {
  HcShape s;
  s.hc = 4;
  s.dim = 96;
  s.sinkhorn_iters = 20;
  s.hc_eps = 1e-6f;
  s.norm_eps = 1e-6f;
  return s;
}

TEST_F(CpuOpsForwardTest, HcPreScalesTheMixesSplitsThemBySinkhornAndSumsTheStreams) {
  const HcShape s = TestHcShape();
  const int64_t hc = s.hc, n = hc * s.dim, m = (2 + hc) * hc;
  const int64_t rows = 21;  // more than one task of the pool's split
  const std::vector<float> h = RandomBf16Values(static_cast<size_t>(rows * n), rng_, 1.0f);
  const std::vector<float> products = RandomBf16Values(static_cast<size_t>(rows * m), rng_, 4.0f);
  const std::vector<float> scale = {0.7f, 1.3f, 0.9f};
  const std::vector<float> base = RandomBf16Values(static_cast<size_t>(m), rng_, 0.5f);
  std::vector<float> mixes = products, y(static_cast<size_t>(rows * s.dim));
  std::vector<float> post(static_cast<size_t>(rows * hc)),
      comb(static_cast<size_t>(rows * hc * hc));
  ops_.HcPre(F32Rows(h.data(), rows, n), F32Rows(mixes.data(), rows, m), scale.data(), base.data(),
             s, F32Rows(y.data(), rows, s.dim), F32Rows(post.data(), rows, hc),
             F32Rows(comb.data(), rows, hc * hc));
  for (int64_t t = 0; t < rows; ++t) {
    const float r = RefStreamRms(h.data() + t * n, n, s.norm_eps);
    std::vector<float> mx(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) mx[i] = products[t * m + i] * r;
    std::vector<float> pre(static_cast<size_t>(hc)), c(static_cast<size_t>(hc * hc));
    for (int64_t j = 0; j < hc; ++j) {
      pre[j] = RefSigmoid(mx[j] * scale[0] + base[j]) + s.hc_eps;
      ASSERT_EQ(Bits(post[t * hc + j]),
                Bits(2.0f * RefSigmoid(mx[hc + j] * scale[1] + base[hc + j])))
          << "row " << t << " post " << j;
    }
    for (int64_t i = 0; i < hc * hc; ++i) c[i] = mx[2 * hc + i] * scale[2] + base[2 * hc + i];
    RefSinkhorn(c, hc, s.sinkhorn_iters, s.hc_eps);
    for (int64_t i = 0; i < hc * hc; ++i) {
      ASSERT_EQ(Bits(comb[t * hc * hc + i]), Bits(c[i])) << "row " << t << " comb " << i;
    }
    const std::vector<float> want = RefStreamSum(h.data() + t * n, pre.data(), hc, s.dim);
    for (int64_t d = 0; d < s.dim; ++d) {
      ASSERT_EQ(Bits(y[t * s.dim + d]), Bits(want[d])) << "row " << t << " dim " << d;
    }
  }
}

TEST_F(CpuOpsForwardTest, HcPostMixesTheStreamsAndTheSublayerOutputInPlace) {
  const HcShape s = TestHcShape();
  const int64_t hc = s.hc, dim = s.dim, rows = 3;
  std::vector<float> h = RandomBf16Values(static_cast<size_t>(rows * hc * dim), rng_, 1.0f);
  const std::vector<float> in = h;
  const std::vector<float> f = RandomBf16Values(static_cast<size_t>(rows * dim), rng_, 1.0f);
  const std::vector<float> post = RandomBf16Values(static_cast<size_t>(rows * hc), rng_, 1.0f);
  const std::vector<float> comb = RandomBf16Values(static_cast<size_t>(rows * hc * hc), rng_, 0.5f);
  ops_.HcPost(F32Rows(f.data(), rows, dim), F32Rows(h.data(), rows, hc * dim),
              F32Rows(post.data(), rows, hc), F32Rows(comb.data(), rows, hc * hc), s,
              F32Rows(h.data(), rows, hc * dim));  // out aliases h
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t k = 0; k < hc; ++k) {
      for (int64_t d = 0; d < dim; ++d) {
        long double mix = 0;
        for (int64_t j = 0; j < hc; ++j) {
          mix += static_cast<float>(comb[t * hc * hc + j * hc + k] * in[(t * hc + j) * dim + d]);
        }
        const float want =
            RefBf16(post[t * hc + k] * f[t * dim + d] + static_cast<float>(mix));  // fp32 sum
        ASSERT_EQ(Bits(h[(t * hc + k) * dim + d]), Bits(want)) << t << "," << k << "," << d;
      }
    }
  }
}

TEST_F(CpuOpsForwardTest, HcHeadWeightsTheStreamsBySigmoidOfTheScaledMixes) {
  const HcShape s = TestHcShape();
  const int64_t hc = s.hc, n = hc * s.dim, rows = 2;
  const std::vector<float> h = RandomBf16Values(static_cast<size_t>(rows * n), rng_, 1.0f);
  const std::vector<float> products = RandomBf16Values(static_cast<size_t>(rows * hc), rng_, 4.0f);
  const std::vector<float> scale = {1.1f};
  const std::vector<float> base = RandomBf16Values(static_cast<size_t>(hc), rng_, 0.5f);
  std::vector<float> mixes = products, y(static_cast<size_t>(rows * s.dim));
  ops_.HcHead(F32Rows(h.data(), rows, n), F32Rows(mixes.data(), rows, hc), scale.data(),
              base.data(), s, F32Rows(y.data(), rows, s.dim));
  for (int64_t t = 0; t < rows; ++t) {
    const float r = RefStreamRms(h.data() + t * n, n, s.norm_eps);
    std::vector<float> pre(static_cast<size_t>(hc));
    for (int64_t j = 0; j < hc; ++j) {
      pre[j] = RefSigmoid(products[t * hc + j] * r * scale[0] + base[j]) + s.hc_eps;
    }
    const std::vector<float> want = RefStreamSum(h.data() + t * n, pre.data(), hc, s.dim);
    for (int64_t d = 0; d < s.dim; ++d) {
      ASSERT_EQ(Bits(y[t * s.dim + d]), Bits(want[d])) << "row " << t << " dim " << d;
    }
  }
}

// ---- weight products ---------------------------------------------------------------------------

// Row r of a stored weight, decoded from the formats' bit fields (weight_format.h).
std::vector<long double> RefWeightRow(const WeightView& w, int64_t r) {
  const auto e8m0 = [](uint8_t b) { return std::ldexp(1.0L, static_cast<int>(b) - 127); };
  const auto e4m3 = [](uint8_t b) {
    const int e = (b >> 3) & 0xf, m = b & 7;
    const long double v = e == 0 ? std::ldexp(m / 8.0L, -6) : std::ldexp(1 + m / 8.0L, e - 7);
    return (b & 0x80) ? -v : v;
  };
  const auto e2m1 = [](uint8_t nibble) {
    static const long double kValues[8] = {0, 0.5L, 1, 1.5L, 2, 3, 4, 6};
    return (nibble & 8) ? -kValues[nibble & 7] : kValues[nibble & 7];
  };
  std::vector<long double> row(static_cast<size_t>(w.cols));
  for (int64_t c = 0; c < w.cols; ++c) {
    switch (w.format) {
      case WeightFormat::kF32:
        row[c] = std::bit_cast<float>(std::array<uint8_t, 4>{
            w.data[(r * w.cols + c) * 4], w.data[(r * w.cols + c) * 4 + 1],
            w.data[(r * w.cols + c) * 4 + 2], w.data[(r * w.cols + c) * 4 + 3]});
        break;
      case WeightFormat::kBF16: {
        const uint32_t bits =
            w.data[(r * w.cols + c) * 2] | (w.data[(r * w.cols + c) * 2 + 1] << 8);
        row[c] = std::bit_cast<float>(bits << 16);
        break;
      }
      case WeightFormat::kFP8:
        row[c] = e4m3(w.data[r * w.cols + c]) * e8m0(w.scale[(r / 128) * w.scale_cols + c / 128]);
        break;
      case WeightFormat::kFP4: {
        const uint8_t byte = w.data[r * (w.cols / 2) + c / 2];
        row[c] = e2m1(c % 2 ? byte >> 4 : byte & 0xf) * e8m0(w.scale[r * w.scale_cols + c / 32]);
        break;
      }
    }
  }
  return row;
}

WeightView ViewOf(const testing::RandomWeight& w) {
  const auto& m = w.matrix;
  return {m.format, m.data, m.scale, m.rows, m.cols, m.scale_cols};
}

TEST_F(CpuOpsForwardTest, ExactWeightProductIsTheDequantisedWeightTimesTheInputRoundedOnce) {
  const int64_t cols = 256, out_rows = 150, out_begin = 3, y_cols = 140;
  for (const WeightFormat format :
       {WeightFormat::kBF16, WeightFormat::kF32, WeightFormat::kFP8, WeightFormat::kFP4}) {
    const testing::RandomWeight weight = testing::MakeWeight(format, out_rows, cols, rng_);
    const WeightView w = ViewOf(weight);
    for (const int64_t rows : {1LL, 4LL, 9LL}) {  // the decode kernel, then the prefill panels
      for (const ProductRound round : {ProductRound::kBF16, ProductRound::kF32}) {
        const int64_t x_stride = cols + 5, y_stride = y_cols + 2;
        const std::vector<float> x =
            RandomBf16Values(static_cast<size_t>(rows * x_stride), rng_, 1.0f);
        std::vector<float> y(static_cast<size_t>(rows * y_stride), -9.0f);
        WeightProductArgs a;
        a.x = F32Rows(x.data(), rows, cols, x_stride);
        a.y = F32Rows(y.data(), rows, y_cols, y_stride);
        a.out_begin = out_begin;
        a.round = round;
        a.numerics = Numerics::kExact;
        ops_.WeightProduct(w, a);
        for (int64_t o = 0; o < y_cols; ++o) {
          const std::vector<long double> wr = RefWeightRow(w, out_begin + o);
          for (int64_t t = 0; t < rows; ++t) {
            long double sum = 0;
            for (int64_t c = 0; c < cols; ++c) sum += wr[c] * x[t * x_stride + c];
            const float want =
                round == ProductRound::kBF16 ? RefBf16Twice(sum) : static_cast<float>(sum);
            ASSERT_EQ(Bits(y[t * y_stride + o]), Bits(want))
                << "format " << static_cast<int>(format) << " rows " << rows << " out " << o;
          }
        }
        for (int64_t t = 0; t < rows; ++t) {  // the stride's padding untouched
          ASSERT_EQ(y[t * y_stride + y_cols], -9.0f);
        }
      }
    }
  }
}

// The exact prefill path (panels of dequantised rows, DotsF64's tiles, the input conversion split
// over the pool) gives each input row the bits the decode path (the fused kernel) gives it alone:
// row and input counts that leave partial panels and tiles, strided rows, 1-3 threads.
TEST_F(CpuOpsForwardTest, ExactWeightProductOfManyRowsGivesEachRowTheBitsItGetsAlone) {
  for (const int threads : {1, 2, 3}) {
    cpu::ThreadPool pool(threads);
    cpu::CpuOps ops(pool);
    for (const WeightFormat format :
         {WeightFormat::kBF16, WeightFormat::kF32, WeightFormat::kFP8, WeightFormat::kFP4}) {
      for (const int64_t cols : {4096LL, 160LL, 8320LL}) {  // 8320: three DotsF64 passes
        const int64_t out_rows = 53, rows = 13, x_stride = cols + 3, y_stride = out_rows + 1;
        const testing::RandomWeight weight =
            testing::MakeWeight(format, out_rows, cols, rng_, /*extreme_scales=*/true);
        const std::vector<float> x =
            RandomBf16Values(static_cast<size_t>(rows * x_stride), rng_, 1.0f);
        for (const ProductRound round : {ProductRound::kBF16, ProductRound::kF32}) {
          std::vector<float> all(static_cast<size_t>(rows * y_stride), -9.0f);
          std::vector<float> one(static_cast<size_t>(out_rows));
          WeightProductArgs a;
          a.x = F32Rows(x.data(), rows, cols, x_stride);
          a.y = F32Rows(all.data(), rows, out_rows, y_stride);
          a.round = round;
          a.numerics = Numerics::kExact;
          ops.WeightProduct(ViewOf(weight), a);
          for (int64_t t = 0; t < rows; ++t) {
            a.x = F32Rows(x.data() + t * x_stride, 1, cols);
            a.y = F32Rows(one.data(), 1, out_rows);
            ops.WeightProduct(ViewOf(weight), a);
            for (int64_t o = 0; o < out_rows; ++o) {
              ASSERT_EQ(Bits(all[t * y_stride + o]), Bits(one[o]))
                  << "format " << static_cast<int>(format) << " cols " << cols << " row " << t
                  << " out " << o << " threads " << threads;
            }
            ASSERT_EQ(all[t * y_stride + out_rows], -9.0f);  // the stride's padding untouched
          }
        }
      }
    }
  }
}

TEST_F(CpuOpsForwardTest, WeightProductWithFp8InputQuantisesACopyFirst) {
  const int64_t cols = 384, out_rows = 40, rows = 3;
  const testing::RandomWeight weight =
      testing::MakeWeight(WeightFormat::kFP8, out_rows, cols, rng_);
  const std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * cols), rng_, 2.0f);
  for (const Numerics numerics : {Numerics::kExact, Numerics::kFast}) {
    std::vector<float> quantised = x, y(static_cast<size_t>(rows * out_rows)), want(y.size());
    ops_.ActQuantFp8(F32Rows(quantised.data(), rows, cols), 128);
    WeightProductArgs a;
    a.x = F32Rows(x.data(), rows, cols);
    a.y = F32Rows(y.data(), rows, out_rows);
    a.input = ProductInput::kFp8Per128;
    a.numerics = numerics;
    ops_.WeightProduct(ViewOf(weight), a);
    a.x = F32Rows(quantised.data(), rows, cols);
    a.y = F32Rows(want.data(), rows, out_rows);
    a.input = ProductInput::kNone;
    ops_.WeightProduct(ViewOf(weight), a);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(Bits(y[i]), Bits(want[i])) << i;
  }
}

TEST_F(CpuOpsForwardTest, FastWeightProductGivesEachRowTheBitsItGetsAlone) {
  const int64_t cols = 512, out_rows = 70, rows = 11;
  for (const WeightFormat format : {WeightFormat::kBF16, WeightFormat::kFP8, WeightFormat::kFP4}) {
    const testing::RandomWeight weight = testing::MakeWeight(format, out_rows, cols, rng_);
    const std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * cols), rng_, 1.0f);
    std::vector<float> all(static_cast<size_t>(rows * out_rows)),
        one(static_cast<size_t>(out_rows));
    WeightProductArgs a;
    a.x = F32Rows(x.data(), rows, cols);
    a.y = F32Rows(all.data(), rows, out_rows);
    a.numerics = Numerics::kFast;
    ops_.WeightProduct(ViewOf(weight), a);
    for (int64_t t = 0; t < rows; ++t) {
      a.x = F32Rows(x.data() + t * cols, 1, cols);
      a.y = F32Rows(one.data(), 1, out_rows);
      ops_.WeightProduct(ViewOf(weight), a);
      for (int64_t o = 0; o < out_rows; ++o) {
        ASSERT_EQ(Bits(all[t * out_rows + o]), Bits(one[o])) << "row " << t << " out " << o;
        // fp32 accumulation: within a few bf16 ulps of the exact product.
        const std::vector<long double> wr = RefWeightRow(ViewOf(weight), o);
        long double sum = 0, mag = 0;
        for (int64_t c = 0; c < cols; ++c) {
          sum += wr[c] * x[t * cols + c];
          mag += std::fabs(wr[c] * x[t * cols + c]);
        }
        ASSERT_LE(std::fabs(one[o] - sum), 1e-2L * std::fabs(sum) + 1e-5L * mag) << o;
      }
    }
  }
}

// A group of products (the MoE's experts of a step) gives each product's own bits: every format,
// FP8 input quantisation, both roundings, strided rows, a product with no rows, in both numerics
// and on 2 and 3 threads. With every product at most cpu::kJoinedMaxRows rows (a decode step's
// experts) `fast` joins their output rows into one loop, so a chunk of it can end one product and
// start the next; with a larger one (a prefill's) the products run one by one.
TEST_F(CpuOpsForwardTest, WeightProductsGiveEachProductsOwnBits) {
  struct Case {
    WeightFormat format;
    int64_t out_rows, cols, out_begin, y_cols;
    ProductInput input;
    ProductRound round;
  };
  const Case cases[] = {
      {WeightFormat::kFP4, 96, 256, 0, 96, ProductInput::kNone, ProductRound::kBF16},
      {WeightFormat::kFP4, 96, 256, 0, 96, ProductInput::kNone, ProductRound::kBF16},
      {WeightFormat::kFP8, 130, 384, 2, 120, ProductInput::kFp8Per128, ProductRound::kBF16},
      {WeightFormat::kBF16, 200, 128, 0, 200, ProductInput::kNone, ProductRound::kF32},
      {WeightFormat::kBF16, 20, 128, 0, 20, ProductInput::kNone, ProductRound::kBF16},
      {WeightFormat::kFP4, 256, 256, 0, 256, ProductInput::kFp8Per128, ProductRound::kBF16},
  };
  const int64_t joined_rows[] = {1, 1, cpu::kJoinedMaxRows, 1, 0, 3};
  const int64_t one_by_one_rows[] = {1, 1, cpu::kJoinedMaxRows + 1, 1, 0, 3};
  std::vector<testing::RandomWeight> weights;
  std::vector<std::vector<float>> xs;
  for (const Case& c : cases) {
    weights.push_back(testing::MakeWeight(c.format, c.out_rows, c.cols, rng_));
    xs.push_back(RandomBf16Values(static_cast<size_t>((cpu::kJoinedMaxRows + 1) * (c.cols + 3)),
                                  rng_, 2.0f));
  }
  const std::vector<std::vector<float>> xs_before = xs;
  for (const int64_t* rows : {joined_rows, one_by_one_rows}) {
    for (const int threads : {2, 3}) {
      cpu::ThreadPool pool(threads);
      cpu::CpuOps ops(pool);
      for (const Numerics numerics : {Numerics::kFast, Numerics::kExact}) {
        std::vector<std::vector<float>> grouped, alone;
        std::vector<WeightProductJob> jobs;
        for (size_t i = 0; i < std::size(cases); ++i) {
          const Case& c = cases[i];
          const int64_t x_stride = c.cols + 3, y_stride = c.y_cols + 1;
          grouped.emplace_back(static_cast<size_t>(std::max<int64_t>(1, rows[i]) * y_stride),
                               -7.0f);
          alone.push_back(grouped.back());
          WeightProductJob j;
          j.w = ViewOf(weights[i]);
          j.args.x = F32Rows(xs[i].data(), rows[i], c.cols, x_stride);
          j.args.y = F32Rows(grouped.back().data(), rows[i], c.y_cols, y_stride);
          j.args.out_begin = c.out_begin;
          j.args.input = c.input;
          j.args.round = c.round;
          j.args.numerics = numerics;
          jobs.push_back(j);
          j.args.y = F32Rows(alone.back().data(), rows[i], c.y_cols, y_stride);
          ops.WeightProduct(j.w, j.args);
        }
        ops.WeightProducts(jobs);
        for (size_t i = 0; i < std::size(cases); ++i) {
          for (size_t k = 0; k < alone[i].size(); ++k) {
            ASSERT_EQ(Bits(grouped[i][k]), Bits(alone[i][k]))
                << "product " << i << " value " << k << " rows " << rows[i] << " threads "
                << threads << " numerics " << static_cast<int>(numerics);
          }
        }
        // The inputs were not written (the FP8 quantisation works on a copy).
        for (size_t i = 0; i < std::size(cases); ++i) {
          ASSERT_EQ(0, std::memcmp(xs[i].data(), xs_before[i].data(), xs[i].size() * sizeof(float)))
              << "product " << i;
        }
      }
    }
  }
}

// ---- the backend factory
// -------------------------------------------------------------------------

TEST(OpsBackendTest, CpuIsMadeAndCudaIsRefusedSayingWhatToPass) {
  cpu::ThreadPool pool(1);
  auto cpu_ops = MakeOps(OpsBackend::kCpu, pool);
  ASSERT_TRUE(cpu_ops) << cpu_ops.error();
  EXPECT_EQ((*cpu_ops)->name(), "cpu");
  auto cuda_ops = MakeOps(OpsBackend::kCuda, pool);
  ASSERT_FALSE(cuda_ops);
  EXPECT_NE(cuda_ops.error().find("'cpu'"), std::string::npos) << cuda_ops.error();
  EXPECT_EQ(ParseOpsBackend("cuda"), OpsBackend::kCuda);
  EXPECT_EQ(ParseOpsBackend("cpu"), OpsBackend::kCpu);
  EXPECT_EQ(ParseOpsBackend("gpu"), std::nullopt);
  EXPECT_EQ(OpsBackendName(OpsBackend::kCuda), "cuda");
}

// ---- the embedding lookup ----------------------------------------------------------------------

TEST_F(CpuOpsForwardTest, EmbedRowsCopiesTheTokensDequantisedRowIntoEveryStream) {
  const int64_t vocab = 260, cols = 256;  // FP8 tables: two 128-row scale blocks and a partial one
  const std::vector<int32_t> ids = {0, 259, 7, 7, 130};
  const int64_t rows = static_cast<int64_t>(ids.size());
  for (const WeightFormat format :
       {WeightFormat::kBF16, WeightFormat::kF32, WeightFormat::kFP8, WeightFormat::kFP4}) {
    const testing::RandomWeight table = testing::MakeWeight(format, vocab, cols, rng_);
    for (const int64_t copies : {1LL, 4LL}) {
      // A row stride wider than the row: the lookup writes only its own columns.
      const int64_t stride = copies * cols + 3;
      std::vector<float> out(static_cast<size_t>(rows * stride), -9.0f);
      ops_.EmbedRows(ViewOf(table), ids.data(), F32Rows(out.data(), rows, copies * cols, stride));
      for (int64_t t = 0; t < rows; ++t) {
        const std::vector<long double> want = RefWeightRow(ViewOf(table), ids[t]);
        for (int64_t j = 0; j < copies; ++j) {
          for (int64_t c = 0; c < cols; ++c) {
            ASSERT_EQ(Bits(out[t * stride + j * cols + c]), Bits(static_cast<float>(want[c])))
                << "format " << static_cast<int>(format) << " row " << t << " copy " << j << " col "
                << c;
          }
        }
        for (int64_t c = copies * cols; c < stride; ++c) ASSERT_EQ(out[t * stride + c], -9.0f);
      }
    }
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::cpu_ops_forward_test
