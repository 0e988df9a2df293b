// The arithmetic of the CUDA forward-op kernels (engine/kernels/cuda/attention_math.h,
// moe_math.h, mixing_math.h), run on the host in the kernels' schedule against the CPU forward
// code it must match bit for bit. Needs no device, so it runs in every build; the kernels
// themselves are compared with the CPU in cuda_forward_ops_test.cc when a GPU is there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/forward/attention.h"
#include "engine/forward/compressor.h"
#include "engine/forward/compute.h"
#include "engine/forward/hyper_connection.h"
#include "engine/forward/indexer.h"
#include "engine/forward/moe.h"
#include "engine/forward/numerics.h"
#include "engine/forward/thread_pool.h"
#include "engine/kernels/cpu/attention_ops.h"
#include "engine/kernels/cpu/compressor_pool.h"
#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/kernels/cpu/head_norm.h"
#include "engine/kernels/cpu/indexer_ops.h"
#include "engine/kernels/cpu/mixing_ops.h"
#include "engine/kernels/cpu/moe_ops.h"
#include "engine/kernels/cpu/quant_ops.h"
#include "engine/kernels/cpu/router.h"
#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/cuda/mixing_math.h"
#include "engine/kernels/cuda/moe_math.h"
#include "tests/engine/kernels/random_weights.h"

namespace dsagent::engine::kernels::cuda_forward_math_test {
namespace {
namespace dm = cuda;

uint32_t BitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
::testing::AssertionResult SameFloat(float a, float b) {
  if ((std::isnan(a) && std::isnan(b)) || BitsOf(a) == BitsOf(b)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << a << " (0x" << std::hex << BitsOf(a) << ") vs " << b << " (0x" << BitsOf(b) << ")";
}

std::vector<float> RandomBf16(size_t n, std::mt19937& rng, float sigma) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = forward::RoundBf16(normal(rng));
  return v;
}

std::vector<uint16_t> ToBf16Bits(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = forward::FloatToBf16Bits(v[i]);
  return out;
}

// A double sum of 32 strided lane partials combined by the xor butterflies of a warp shuffle
// (what lane 0 holds after the kernels' reductions).
double WarpOrderDot(const float* a, const uint16_t* b, int64_t n) {
  double lane[32] = {};
  for (int l = 0; l < 32; ++l) {
    for (int64_t d = l; d < n; d += 32) {
      lane[l] += static_cast<double>(a[d]) * static_cast<double>(dm::Bf16ToFloat(b[d]));
    }
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    double next[32];
    for (int l = 0; l < 32; ++l) next[l] = lane[l] + lane[l ^ offset];
    std::copy(next, next + 32, lane);
  }
  return lane[0];
}

TEST(CudaForwardMathTest, HeadNormMatchesTheCpuAndItsSumIsOrderFree) {
  std::mt19937 rng(101);
  for (const int64_t n : {512LL, 128LL, 7LL}) {
    for (int rep = 0; rep < 50; ++rep) {
      std::vector<float> x = RandomBf16(static_cast<size_t>(n), rng, rep % 2 ? 3.0f : 0.05f);
      std::vector<float> cpu = x;
      kernels::cpu::HeadRmsNormBf16(cpu.data(), n, 1e-6f);
      double sequential = 0, strided[256] = {};
      for (int64_t i = 0; i < n; ++i) {
        sequential += dm::HeadNormSquare(x[static_cast<size_t>(i)]);
        strided[i % 256] += dm::HeadNormSquare(x[static_cast<size_t>(i)]);
      }
      for (int s = 128; s > 0; s /= 2) {
        for (int i = 0; i < s; ++i) strided[i] += strided[i + s];
      }
      ASSERT_EQ(sequential, strided[0]) << "the kernel's tree sum differs, n " << n;
      const float r = dm::HeadNormFactor(strided[0], n, 1e-6f);
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE(SameFloat(dm::RoundBf16(x[i] * r), cpu[i])) << "n " << n << " index " << i;
      }
    }
  }
}

TEST(CudaForwardMathTest, HadamardButterfliesMatchTheCpuRotation) {
  std::mt19937 rng(103);
  for (const int64_t n : {2LL, 32LL, 128LL, 512LL}) {
    std::vector<float> x = RandomBf16(static_cast<size_t>(n), rng, 2.0f);
    std::vector<float> cpu = x;
    kernels::cpu::HadamardRotateBf16(cpu.data(), n);
    std::vector<double> v(x.begin(), x.end());
    for (int64_t h = 1; h < n; h *= 2) {
      // A stage's butterflies in reverse order: they are disjoint, so any order is the same.
      for (int64_t k = n / 2 - 1; k >= 0; --k) dm::HadamardButterfly(v.data(), h, k);
    }
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(
          SameFloat(dm::HadamardOut(v[static_cast<size_t>(i)], n), cpu[static_cast<size_t>(i)]))
          << "n " << n << " index " << i;
    }
  }
}

// The attention's q.K and the indexer's dots: the products are exact in double, so the warp's
// order of the sum gives the sequential loop's double.
TEST(CudaForwardMathTest, WarpOrderDotsEqualTheSequentialSum) {
  std::mt19937 rng(107);
  for (const int64_t n : {512LL, 128LL, 72LL}) {
    for (int rep = 0; rep < 200; ++rep) {
      const std::vector<float> q = RandomBf16(static_cast<size_t>(n), rng, 1.0f);
      const std::vector<uint16_t> k = ToBf16Bits(RandomBf16(static_cast<size_t>(n), rng, 4.0f));
      double sequential = 0;
      for (int64_t d = 0; d < n; ++d) {
        sequential += static_cast<double>(q[static_cast<size_t>(d)]) *
                      static_cast<double>(dm::Bf16ToFloat(k[static_cast<size_t>(d)]));
      }
      ASSERT_EQ(WarpOrderDot(q.data(), k.data(), n), sequential) << "n " << n;
    }
  }
}

TEST(CudaForwardMathTest, SparseAttentionStepsMatchTheCpuHead) {
  std::mt19937 rng(109);
  for (const int64_t hd : {512LL, 72LL}) {
    const int64_t cache_rows = 300;
    const std::vector<uint16_t> kv =
        ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f));
    for (const int64_t n : {0LL, 1LL, 63LL, 64LL, 65LL, 200LL, 517LL}) {
      for (const bool mask_first_block : {false, true}) {
        std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
        std::vector<int32_t> index(static_cast<size_t>(n));
        for (int64_t j = 0; j < n; ++j) {
          const bool masked = (mask_first_block && j < 64) || j % 7 == 3;
          index[static_cast<size_t>(j)] = masked ? -1 : pick(rng);
        }
        const std::vector<float> q = RandomBf16(static_cast<size_t>(hd), rng, 2.0f);
        const float sink = forward::RoundBf16(std::normal_distribution<float>(0, 2)(rng));
        KvRowSet cache;
        cache.parts[0] = Bf16BitRows(kv.data(), cache_rows, hd);
        cache.count = 1;
        const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
        std::vector<float> cpu(static_cast<size_t>(hd)), gpu(cpu.size()), acc(cpu.size());
        kernels::cpu::SparseAttentionHead(q.data(), cache, index.data(), n, sink, hd, scale,
                                          cpu.data());
        dm::SparseAttentionHeadBySteps(q.data(), kv.data(), index.data(), n, hd, sink, scale,
                                       gpu.data(), acc.data());
        for (int64_t d = 0; d < hd; ++d) {
          ASSERT_TRUE(SameFloat(gpu[static_cast<size_t>(d)], cpu[static_cast<size_t>(d)]))
              << "hd " << hd << " n " << n << " dim " << d;
        }
      }
    }
  }
}

// The attention kernel's block max: 32 lanes each over every 32nd score from the running max,
// then an xor tree, with RaisesMax at every step, equals BlockMax's sequential scan (masked -inf
// and NaN scores never count) on blocks with ties, all-masked blocks and a running max.
TEST(CudaForwardMathTest, TheWarpsBlockMaxEqualsTheSequentialOne) {
  std::mt19937 rng(61);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_int_distribution<int> kind(0, 9);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int trial = 0; trial < 2000; ++trial) {
    const int bn = 1 + trial % dm::kAttentionBlock;
    float score[dm::kAttentionBlock];
    for (int j = 0; j < bn; ++j) {
      const int k = kind(rng);
      score[j] = k == 0   ? neg_inf
                 : k == 1 ? std::numeric_limits<float>::quiet_NaN()
                 : k == 2 ? 1.5f  // ties
                          : normal(rng);
      if (trial % 7 == 0) score[j] = neg_inf;  // nothing visible
    }
    const float running = trial % 3 == 0 ? neg_inf : normal(rng);
    float lanes[32];
    for (int lane = 0; lane < 32; ++lane) {
      float m = running;
      for (int j = lane; j < bn; j += 32) {
        if (dm::RaisesMax(m, score[j])) m = score[j];
      }
      lanes[lane] = m;
    }
    for (int offset = 16; offset > 0; offset /= 2) {
      float next[32];
      for (int lane = 0; lane < 32; ++lane) {
        const float other = lanes[lane ^ offset];
        next[lane] = dm::RaisesMax(lanes[lane], other) ? other : lanes[lane];
      }
      std::copy(next, next + 32, lanes);
    }
    const float want = dm::BlockMax(running, score, bn);
    ASSERT_FALSE(std::isnan(want));
    for (int lane = 0; lane < 32; ++lane) {
      ASSERT_EQ(lanes[lane], want) << "trial " << trial << " lane " << lane;
    }
  }
}

// Both kernels' orders give the CPU's scores: the warp per entry's (lanes over the dims, combined
// by shuffles) and the tiled GEMM's (each dot by fma over the dims in order); the products are
// exact in double and the terms are added in head order.
TEST(CudaForwardMathTest, IndexerTermsMatchTheCpuScores) {
  std::mt19937 rng(113);
  const int64_t heads = 64, hd = 128, entries = 300;
  std::vector<float> q = RandomBf16(static_cast<size_t>(heads * hd), rng, 1.0f);
  kernels::cpu::QuantizeFp4Blocks(q.data(), heads * hd, 32);
  std::vector<float> key_values = RandomBf16(static_cast<size_t>(entries * hd), rng, 1.0f);
  kernels::cpu::QuantizeFp4Blocks(key_values.data(), entries * hd, 32);
  const std::vector<uint16_t> keys = ToBf16Bits(key_values);
  const std::vector<float> hw = RandomBf16(static_cast<size_t>(heads), rng, 0.02f);
  std::vector<float> cpu(static_cast<size_t>(entries));
  kernels::cpu::IndexerScores(q.data(), hw.data(), heads, hd, keys.data(), 0, entries, cpu.data());
  for (int64_t e = 0; e < entries; ++e) {
    double warp_sum = 0, tiled_sum = 0;
    for (int64_t h = 0; h < heads; ++h) {
      const double dot = WarpOrderDot(q.data() + h * hd, keys.data() + e * hd, hd);
      warp_sum += dm::IndexerHeadTerm(dot, hw[static_cast<size_t>(h)]);
      double fma_dot = 0;
      for (int64_t d = 0; d < hd; ++d) {
        const uint16_t k = keys[static_cast<size_t>(e * hd + d)];
        fma_dot = std::fma(static_cast<double>(q[static_cast<size_t>(h * hd + d)]),
                           static_cast<double>(dm::Bf16ToFloat(k)), fma_dot);
      }
      tiled_sum += dm::IndexerHeadTerm(fma_dot, hw[static_cast<size_t>(h)]);
    }
    ASSERT_TRUE(SameFloat(dm::IndexerScore(warp_sum), cpu[static_cast<size_t>(e)]))
        << "entry " << e;
    ASSERT_TRUE(SameFloat(dm::IndexerScore(tiled_sum), cpu[static_cast<size_t>(e)]))
        << "tiled order, entry " << e;
  }
}

// The TopK kernel's selection, pass by pass on the host: histograms of the next key byte among
// the keys matching the chosen prefix, RadixSelectPass, stopping once the keys at or above the
// prefix fit in `capacity` (RadixCandidates; the kernels' TopKSortCapacity(k) unless given; k
// stops only when the selection is settled), then every key >= the prefix, sorted, the first k
// kept. `passes` (optional) gets the number of histogram passes run.
std::vector<int32_t> TopKBySelection(const std::vector<float>& score, int64_t k,
                                     int* passes = nullptr, int64_t capacity = 0) {
  const int64_t n = static_cast<int64_t>(score.size()), kept = std::min(k, n);
  if (kept <= 0) return {};
  if (capacity == 0) capacity = dm::TopKSortCapacity(kept);
  uint64_t prefix = 0, mask = 0;
  uint32_t rank = static_cast<uint32_t>(kept);
  int run = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    uint32_t histogram[256] = {};
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t key = dm::TopKKey(score[static_cast<size_t>(i)], static_cast<uint32_t>(i));
      if ((key & mask) == prefix) ++histogram[(key >> shift) & 255u];
    }
    ++run;
    const bool settled = dm::RadixSelectPass(histogram, shift, rank, prefix, mask);
    const uint32_t candidates =
        dm::RadixCandidates(histogram, shift, prefix, rank, static_cast<uint32_t>(kept));
    EXPECT_EQ(settled, candidates == static_cast<uint32_t>(kept)) << "pass " << run;
    if (candidates <= capacity) break;
  }
  if (passes != nullptr) *passes = run;
  std::vector<uint64_t> selected;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t key = dm::TopKKey(score[static_cast<size_t>(i)], static_cast<uint32_t>(i));
    if (key >= prefix) selected.push_back(key);
  }
  EXPECT_GE(static_cast<int64_t>(selected.size()), kept);
  EXPECT_LE(static_cast<int64_t>(selected.size()), capacity);
  std::sort(selected.rbegin(), selected.rend());
  std::vector<int32_t> out;
  for (size_t i = 0; i < static_cast<size_t>(kept); ++i) {
    out.push_back(dm::TopKKeyIndex(selected[i]));
  }
  return out;
}

TEST(CudaForwardMathTest, RadixTopKSelectsTheStableSortsPrefix) {
  std::mt19937 rng(127);
  for (const int64_t n : {1LL, 5LL, 1000LL, 5000LL}) {
    for (const int64_t k : {1LL, 7LL, 512LL, 2048LL}) {
      // bf16 values of a narrow range: many ties, and both zeros and -inf among them.
      std::vector<float> score = RandomBf16(static_cast<size_t>(n), rng, 0.01f);
      for (size_t i = 0; i < score.size(); i += 11) score[i] = (i % 2) ? -0.0f : 0.0f;
      for (size_t i = 5; i < score.size(); i += 97)
        score[i] = -std::numeric_limits<float>::infinity();
      std::vector<int32_t> cpu(static_cast<size_t>(std::min(k, n)));
      kernels::cpu::StableTopK(score.data(), n, k, cpu.data());
      ASSERT_EQ(TopKBySelection(score, k), cpu) << "n " << n << " k " << k;
      // Stopping only once settled (a capacity of k) selects the same.
      ASSERT_EQ(TopKBySelection(score, k, nullptr, std::min(k, n)), cpu) << "n " << n << " k " << k;
    }
  }
}

// Scores that rarely tie (an indexer's over 16K keys) settle after a few of the 8 passes, with
// the stable sort's selection; all-equal scores go on past the 4 score bytes into the index
// bytes (here 7 passes: indices 256..511 fill the second index byte's bucket whole).
TEST(CudaForwardMathTest, RadixTopKStopsOnceTheBucketIsTakenWhole) {
  std::mt19937 rng(131);
  const int64_t n = 16384, k = 512;
  std::vector<float> score(static_cast<size_t>(n));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : score) v = normal(rng);
  std::vector<int32_t> cpu(static_cast<size_t>(k));
  kernels::cpu::StableTopK(score.data(), n, k, cpu.data());
  int passes = 0;
  EXPECT_EQ(TopKBySelection(score, k, &passes), cpu);
  EXPECT_LE(passes, 4);
  std::fill(score.begin(), score.end(), 0.5f);
  kernels::cpu::StableTopK(score.data(), n, k, cpu.data());
  EXPECT_EQ(TopKBySelection(score, k, &passes), cpu);
  EXPECT_EQ(passes, 7);
}

// bf16 scores (the indexer's) tie: the k-th score is shared by a dozen keys, so the bucket of its
// last score byte is rarely taken whole and the selection settles only in the index bytes, after
// passes over the bf16 scores' zero low bytes. The keys at or above that score fit in twice k, so
// the passes stop after the score's two bytes, with the same selection.
TEST(CudaForwardMathTest, RadixTopKStopsOnceItsCandidatesFitTheSort) {
  std::mt19937 rng(137);
  const int64_t n = 16384, k = 512;
  const std::vector<float> score = RandomBf16(static_cast<size_t>(n), rng, 0.01f);
  std::vector<int32_t> cpu(static_cast<size_t>(k));
  kernels::cpu::StableTopK(score.data(), n, k, cpu.data());
  int settled_passes = 0, passes = 0;
  EXPECT_EQ(TopKBySelection(score, k, &settled_passes, k), cpu);
  EXPECT_GT(settled_passes, 2);
  EXPECT_EQ(dm::TopKSortCapacity(k), 2 * k);
  EXPECT_EQ(dm::TopKSortCapacity(300), 1024);   // twice the sort length
  EXPECT_EQ(dm::TopKSortCapacity(3000), 4096);  // at most 4,096 keys (32 KB) ...
  EXPECT_EQ(dm::TopKSortCapacity(4096), 4096);  // ... which k = 4,096 needs anyway
  EXPECT_EQ(TopKBySelection(score, k, &passes), cpu);
  EXPECT_EQ(passes, 2);
}

// The router kernel's schedule: scores per element (softmax by one thread), k arg-max rounds
// under RanksBefore (here one sequential scan; the kernel's tree picks the same under a total
// order), the weights by RouteWeights.
void RouteBySteps(const std::vector<float>& logits, int64_t rows, const dm::RouteScoreFunc func,
                  int64_t n, int64_t k, float route_scale, const float* bias,
                  const int32_t* hash_ids, std::vector<int32_t>& ids, std::vector<float>& weights) {
  ids.assign(static_cast<size_t>(rows * k), -1);
  weights.assign(ids.size(), 0.0f);
  for (int64_t t = 0; t < rows; ++t) {
    std::vector<float> s(logits.begin() + t * n, logits.begin() + (t + 1) * n);
    if (func == dm::RouteScoreFunc::kSoftmax) {
      dm::SoftmaxRow(s.data(), n);
    } else {
      for (float& v : s) v = dm::RouteScore(v, func);
    }
    int32_t* id = ids.data() + t * k;
    if (hash_ids != nullptr) {
      std::copy(hash_ids + t * k, hash_ids + (t + 1) * k, id);
    } else {
      std::vector<bool> taken(static_cast<size_t>(n), false);
      for (int64_t j = 0; j < k; ++j) {
        int32_t best = -1;
        float best_value = 0;
        // Scanned from the top: RanksBefore decides ties, not the scan order.
        for (int64_t i = n - 1; i >= 0; --i) {
          const float v = s[static_cast<size_t>(i)] + bias[i];
          if (taken[static_cast<size_t>(i)]) continue;
          if (best < 0 || dm::RanksBefore(v, static_cast<int32_t>(i), best_value, best)) {
            best = static_cast<int32_t>(i);
            best_value = v;
          }
        }
        id[j] = best;
        taken[static_cast<size_t>(best)] = true;
      }
    }
    std::vector<float> picked(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) picked[static_cast<size_t>(j)] = s[static_cast<size_t>(id[j])];
    dm::RouteWeights(picked.data(), k, func, route_scale, weights.data() + t * k);
  }
}

TEST(CudaForwardMathTest, RouterStepsMatchTheCpuForEveryScoreFunctionAndHashRouting) {
  std::mt19937 rng(131);
  const int64_t rows = 9, n = 256, k = 6;
  std::vector<float> logits = RandomBf16(static_cast<size_t>(rows * n), rng, 2.0f);
  // Bias on a coarse grid and repeated logits: ties in score + bias, decided by the lower id.
  std::vector<float> bias(static_cast<size_t>(n));
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = static_cast<float>(i % 3) * 0.25f;
  for (int64_t t = 0; t < rows; ++t)
    logits[static_cast<size_t>(t * n + 200)] = logits[static_cast<size_t>(t * n + 17)];
  std::vector<int32_t> hash_ids(static_cast<size_t>(rows * k));
  std::uniform_int_distribution<int32_t> expert(0, n - 1);
  for (int32_t& id : hash_ids) id = expert(rng);
  hash_ids[1] = hash_ids[0];  // a token routed twice to one expert
  const struct {
    forward::ScoreFunc cpu;
    dm::RouteScoreFunc gpu;
  } funcs[] = {{forward::ScoreFunc::kSqrtSoftplus, dm::RouteScoreFunc::kSqrtSoftplus},
               {forward::ScoreFunc::kSigmoid, dm::RouteScoreFunc::kSigmoid},
               {forward::ScoreFunc::kSoftmax, dm::RouteScoreFunc::kSoftmax}};
  for (const auto& f : funcs) {
    for (const bool hash : {false, true}) {
      forward::RouterShape shape;
      shape.experts = n;
      shape.k = k;
      shape.func = f.cpu;
      shape.route_scale = 1.5f;
      std::vector<float> scores = logits;
      std::vector<int32_t> cpu_ids(static_cast<size_t>(rows * k)), ids;
      std::vector<float> cpu_weights(cpu_ids.size()), weights;
      kernels::cpu::RouteFromScores(scores.data(), rows, shape, hash ? nullptr : bias.data(),
                                    hash ? hash_ids.data() : nullptr, cpu_ids.data(),
                                    cpu_weights.data());
      RouteBySteps(logits, rows, f.gpu, n, k, 1.5f, bias.data(), hash ? hash_ids.data() : nullptr,
                   ids, weights);
      ASSERT_EQ(ids, cpu_ids) << "func " << static_cast<int>(f.gpu) << " hash " << hash;
      for (size_t i = 0; i < ids.size(); ++i) {
        ASSERT_TRUE(SameFloat(weights[i], cpu_weights[i]))
            << "func " << static_cast<int>(f.gpu) << " hash " << hash << " slot " << i;
      }
    }
  }
}

TEST(CudaForwardMathTest, CombineMatchesTheCpuWithRepeatedExperts) {
  std::mt19937 rng(137);
  const int64_t rows = 4, k = 6, dim = 77;
  const std::vector<float> routed = RandomBf16(static_cast<size_t>(rows * k * dim), rng, 1.0f);
  const std::vector<float> shared = RandomBf16(static_cast<size_t>(rows * dim), rng, 1.0f);
  const std::vector<int32_t> ids = {5, 3, 9, 1, 7, 2, 4, 4, 4, 1, 0, 2,
                                    8, 6, 7, 6, 5, 4, 0, 1, 2, 3, 4, 5};
  std::vector<float> cpu(static_cast<size_t>(rows * dim));
  kernels::cpu::CombineExperts(routed.data(), shared.data(), ids.data(), rows, k, dim, cpu.data());
  for (int64_t t = 0; t < rows; ++t) {
    int slots[dm::kMaxRouteK];
    const int n = dm::CombineSlots(ids.data() + t * k, static_cast<int>(k), slots);
    for (int64_t d = 0; d < dim; ++d) {
      const float v = dm::CombineValue(routed.data() + t * k * dim,
                                       shared[static_cast<size_t>(t * dim + d)], slots, n, dim, d);
      ASSERT_TRUE(SameFloat(v, cpu[static_cast<size_t>(t * dim + d)]))
          << "row " << t << " dim " << d;
    }
  }
}

TEST(CudaForwardMathTest, HyperConnectionStepsMatchTheCpu) {
  std::mt19937 rng(139);
  forward::HcShape s;
  s.hc = 4;
  s.dim = 333;
  const int64_t rows = 3, m = (2 + s.hc) * s.hc, n = s.hc * s.dim;
  const std::vector<float> h = RandomBf16(static_cast<size_t>(rows * n), rng, 1.0f);
  const std::vector<float> products = RandomBf16(static_cast<size_t>(rows * m), rng, 30.0f);
  const std::vector<float> scale = {0.5f, 0.25f, 1.5f};
  const std::vector<float> base = RandomBf16(static_cast<size_t>(m), rng, 1.0f);
  const std::vector<float> f = RandomBf16(static_cast<size_t>(rows * s.dim), rng, 1.0f);
  std::vector<float> mixes = products;
  kernels::cpu::ScaleMixes(h.data(), rows, m, s, mixes.data());
  for (int64_t t = 0; t < rows; ++t) {
    // HcPre: the rms factor, the Sinkhorn split and the weighted stream sum.
    const float* ht = h.data() + t * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(ht[i] * ht[i]);
    const float r = dm::StreamRmsFactor(ss, n, s.norm_eps);
    float gpu_mixes[(2 + dm::kMaxHc) * dm::kMaxHc];
    for (int64_t j = 0; j < m; ++j) {
      gpu_mixes[j] = products[static_cast<size_t>(t * m + j)] * r;
      ASSERT_TRUE(SameFloat(gpu_mixes[j], mixes[static_cast<size_t>(t * m + j)])) << "mix " << j;
    }
    float pre[dm::kMaxHc], post[dm::kMaxHc], comb[dm::kMaxHc * dm::kMaxHc];
    std::vector<float> cpu_pre(4), cpu_post(4), cpu_comb(16);
    dm::SinkhornSplitHc(gpu_mixes, scale.data(), base.data(), 4, s.sinkhorn_iters, s.hc_eps, pre,
                        post, comb);
    kernels::cpu::SinkhornSplit(mixes.data() + t * m, scale.data(), base.data(), s, cpu_pre.data(),
                                cpu_post.data(), cpu_comb.data());
    for (int j = 0; j < 4; ++j) {
      ASSERT_TRUE(SameFloat(pre[j], cpu_pre[static_cast<size_t>(j)])) << "pre " << j;
      ASSERT_TRUE(SameFloat(post[j], cpu_post[static_cast<size_t>(j)])) << "post " << j;
    }
    for (int i = 0; i < 16; ++i) ASSERT_TRUE(SameFloat(comb[i], cpu_comb[static_cast<size_t>(i)]));
    std::vector<float> cpu_y(static_cast<size_t>(s.dim));
    kernels::cpu::WeightedStreamSum(ht, cpu_pre.data(), s, cpu_y.data());
    for (int64_t d = 0; d < s.dim; ++d) {
      ASSERT_TRUE(
          SameFloat(dm::WeightedStreamValue(ht, pre, 4, s.dim, d), cpu_y[static_cast<size_t>(d)]))
          << "y " << d;
    }
    // HcPost with this token's post and comb.
    std::vector<float> cpu_out(static_cast<size_t>(n));
    kernels::cpu::HcPost(f.data() + t * s.dim, ht, post, comb, 1, s, cpu_out.data());
    for (int k = 0; k < 4; ++k) {
      for (int64_t d = 0; d < s.dim; ++d) {
        ASSERT_TRUE(SameFloat(dm::HcPostValue(f.data() + t * s.dim, ht, post, comb, 4, s.dim, k, d),
                              cpu_out[static_cast<size_t>(k * s.dim + d)]))
            << "post stream " << k << " dim " << d;
      }
    }
  }
}

// The head's reduction as the kernels compute it (exact fn products, the rms factor, the stream
// weights, the weighted sum) against forward::HcHead itself.
TEST(CudaForwardMathTest, HcHeadStepsMatchTheCpuHead) {
  std::mt19937 rng(151);
  forward::HcShape s;
  s.hc = 4;
  s.dim = 257;
  const int64_t rows = 3, n = s.hc * s.dim;
  auto fn = testing::MakeWeight(WeightFormat::kF32, s.hc, n, rng);
  forward::HcWeights w;
  w.fn = fn.matrix;
  w.base = RandomBf16(static_cast<size_t>(s.hc), rng, 1.0f);
  w.scale = {0.75f};
  const std::vector<float> h = RandomBf16(static_cast<size_t>(rows * n), rng, 1.0f);
  std::vector<float> cpu(static_cast<size_t>(rows * s.dim));
  forward::ThreadPool pool(1);
  const kernels::cpu::CpuOps ops(pool);
  forward::HcHead(h.data(), rows, w, s, cpu.data(), forward::Compute{pool, Numerics::kFast, ops});
  const dm::WeightView view{dm::WeightKind::kF32, fn.matrix.data, nullptr, n, 0};
  for (int64_t t = 0; t < rows; ++t) {
    const float* ht = h.data() + t * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(ht[i] * ht[i]);
    const float r = dm::StreamRmsFactor(ss, n, s.norm_eps);
    float pre[dm::kMaxHc];
    for (int j = 0; j < s.hc; ++j) {
      const float product = static_cast<float>(dm::RowDotF64ByCta(view, j, ht));
      pre[j] =
          dm::HeadStreamWeight(product * r, w.scale[0], w.base[static_cast<size_t>(j)], s.hc_eps);
    }
    for (int64_t d = 0; d < s.dim; ++d) {
      ASSERT_TRUE(SameFloat(dm::WeightedStreamValue(ht, pre, 4, s.dim, d),
                            cpu[static_cast<size_t>(t * s.dim + d)]))
          << "row " << t << " dim " << d;
    }
  }
}

TEST(CudaForwardMathTest, PoolChannelMatchesTheCpuCompressor) {
  std::mt19937 rng(149);
  struct Case {
    int64_t ratio, head_dim;
    bool overlap;
  };
  for (const Case c :
       {Case{4, 128, true}, Case{4, 512, true}, Case{128, 512, false}, Case{3, 33, false}}) {
    const int64_t slots = c.overlap ? 2 * c.ratio : c.ratio;
    const int64_t width = c.overlap ? 2 * c.head_dim : c.head_dim;
    const std::vector<float> kv = RandomBf16(static_cast<size_t>(slots * width), rng, 1.0f);
    const std::vector<float> score = RandomBf16(static_cast<size_t>(slots * width), rng, 3.0f);
    std::vector<float> cpu(static_cast<size_t>(c.head_dim));
    kernels::cpu::PoolBlock(kv.data(), score.data(), width, c.ratio, c.head_dim, c.overlap,
                            cpu.data());
    for (int64_t ch = 0; ch < c.head_dim; ++ch) {
      ASSERT_TRUE(SameFloat(
          dm::PoolChannel(kv.data(), score.data(), width, c.ratio, c.head_dim, c.overlap, ch),
          cpu[static_cast<size_t>(ch)]))
          << "ratio " << c.ratio << " channel " << ch;
    }
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda_forward_math_test
