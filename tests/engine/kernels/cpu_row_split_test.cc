// The CPU backend's row-wise ops split a prefill's rows over the pool (cpu_ops.cc OnRows). Each
// row must get the bits it gets on one thread whatever the split: every op below runs on 48 rows
// (several tasks) on a pool of 1 and of 3 threads, and the outputs are compared bit for bit. An op
// that handed a task the wrong row's inputs or weights (an offset missed on a sub-range) fails.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/op_shapes.h"
#include "engine/kernels/ops.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels::cpu_row_split_test {
namespace {

constexpr int64_t kRows = 48;

// The ops' inputs are bf16 values.
using reference_rounding::RandomBf16Values;

template <class T>
void ExpectSameBits(const std::vector<T>& a, const std::vector<T>& b, const char* op) {
  ASSERT_EQ(a.size(), b.size()) << op;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(T)), 0) << op;
}

// Runs `op` on its own copy of `init` with each pool and compares the results.
template <class T>
void SameOnOneAndThreeThreads(const char* name, const std::vector<T>& init,
                              const std::function<void(const Ops&, std::vector<T>&)>& op) {
  std::vector<T> results[2];
  int i = 0;
  for (int threads : {1, 3}) {
    cpu::ThreadPool pool(threads);
    cpu::CpuOps ops(pool);
    results[i] = init;
    op(ops, results[i]);
    ++i;
  }
  ExpectSameBits(results[0], results[1], name);
  ASSERT_NE(std::memcmp(results[0].data(), init.data(), init.size() * sizeof(T)), 0)
      << name << " changed nothing";
}

TEST(CpuRowSplitTest, RowWiseOpsGiveEachRowItsOneThreadBits) {
  std::mt19937 rng(5);
  const int64_t cols = 1024;
  const std::vector<float> x = RandomBf16Values(kRows * cols, rng, 2.0f);
  const std::vector<float> weight = RandomBf16Values(cols, rng, 1.0f);
  const std::vector<float> row_weight = RandomBf16Values(kRows, rng, 1.0f);

  SameOnOneAndThreeThreads<float>("ActQuantFp4", x, [&](const Ops& ops, std::vector<float>& v) {
    ops.ActQuantFp4(F32Rows(v.data(), kRows, cols), 32);
  });
  SameOnOneAndThreeThreads<float>("ActQuantFp8", x, [&](const Ops& ops, std::vector<float>& v) {
    ops.ActQuantFp8(F32Rows(v.data(), kRows, cols), 128);
  });
  SameOnOneAndThreeThreads<float>("HadamardBf16", x, [&](const Ops& ops, std::vector<float>& v) {
    ops.HadamardBf16(F32Rows(v.data(), kRows, cols));
  });
  SameOnOneAndThreeThreads<float>("RmsNormBf16", x, [&](const Ops& ops, std::vector<float>& v) {
    ops.RmsNormBf16(F32Rows(x.data(), kRows, cols), weight.data(), 1e-6f,
                    F32Rows(v.data(), kRows, cols));
  });
  SameOnOneAndThreeThreads<float>("HeadRmsNormBf16", x, [&](const Ops& ops, std::vector<float>& v) {
    ops.HeadRmsNormBf16(F32Rows(v.data(), kRows, cols), 1e-6f);
  });
  // Two rows per position, so a task that started at the wrong position would rotate wrongly.
  std::vector<float> freqs(32);
  for (size_t i = 0; i < freqs.size(); ++i) freqs[i] = 1.0f / static_cast<float>(1 + 3 * i);
  std::vector<int64_t> positions(kRows / 2);
  for (size_t j = 0; j < positions.size(); ++j) positions[j] = static_cast<int64_t>(7 * j + 3);
  SameOnOneAndThreeThreads<float>("RopeRotate", x, [&](const Ops& ops, std::vector<float>& v) {
    ops.RopeRotate(F32Rows(v.data(), kRows, cols), freqs, positions, /*inverse=*/false);
  });
  const std::vector<float> u = RandomBf16Values(kRows * cols, rng, 2.0f);
  for (const float* rw : {static_cast<const float*>(nullptr), row_weight.data()}) {
    SameOnOneAndThreeThreads<float>("SwiGlu", x, [&](const Ops& ops, std::vector<float>& v) {
      ops.SwiGlu(F32Rows(v.data(), kRows, cols), F32Rows(u.data(), kRows, cols), rw, 3.0f);
    });
  }
  SameOnOneAndThreeThreads<float>("ScaleBf16", x, [&](const Ops& ops, std::vector<float>& v) {
    ops.ScaleBf16(F32Rows(v.data(), kRows, cols), 0.37f);
  });
  std::vector<float> unrounded = x;
  for (size_t i = 0; i < unrounded.size(); ++i) unrounded[i] += 1e-3f * static_cast<float>(i % 7);
  SameOnOneAndThreeThreads<float>("RoundToBf16", unrounded,
                                  [&](const Ops& ops, std::vector<float>& v) {
                                    ops.RoundToBf16(F32Rows(v.data(), kRows, cols));
                                  });
  // y [rows, 2 * 512] with a row stride wider than its columns.
  const int64_t y_stride = 2 * 512 + 8;
  const std::vector<float> y0 = RandomBf16Values(kRows * y_stride, rng, 2.0f);
  SameOnOneAndThreeThreads<float>(
      "AddBroadcastBf16", y0, [&](const Ops& ops, std::vector<float>& v) {
        ops.AddBroadcastBf16(F32Rows(x.data(), kRows, 512, cols),
                             F32Rows(v.data(), kRows, 2 * 512, y_stride));
      });
  SameOnOneAndThreeThreads<uint16_t>("ToBf16Bits", std::vector<uint16_t>(kRows * cols, 0),
                                     [&](const Ops& ops, std::vector<uint16_t>& bits) {
                                       ops.ToBf16Bits(F32Rows(unrounded.data(), kRows, cols),
                                                      Bf16BitRows(bits.data(), kRows, cols));
                                     });
  const int64_t k = 3;
  const std::vector<float> routed = RandomBf16Values(kRows * k * cols, rng, 2.0f);
  std::vector<int32_t> ids(kRows * k);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 5 + i / 3) % 8);
  SameOnOneAndThreeThreads<float>("CombineExperts", std::vector<float>(kRows * cols, 0.0f),
                                  [&](const Ops& ops, std::vector<float>& out) {
                                    ops.CombineExperts(F32Rows(routed.data(), kRows * k, cols),
                                                       F32Rows(x.data(), kRows, cols), ids.data(),
                                                       k, F32Rows(out.data(), kRows, cols));
                                  });
}

TEST(CpuRowSplitTest, HyperConnectionOpsGiveEachRowItsOneThreadBits) {
  std::mt19937 rng(11);
  HcShape s;
  s.hc = 4;
  s.dim = 256;
  s.sinkhorn_iters = 5;
  const int64_t m = (2 + s.hc) * s.hc;
  const std::vector<float> h = RandomBf16Values(kRows * s.hc * s.dim, rng, 2.0f);
  const std::vector<float> mixes0 = RandomBf16Values(kRows * m, rng, 0.5f);
  const std::vector<float> scale = {0.5f, 0.7f, 0.9f};
  const std::vector<float> base = RandomBf16Values(m, rng, 0.3f);
  // HcPre's outputs packed into one vector: mixes, y, post, comb.
  const int64_t y_at = kRows * m, post_at = y_at + kRows * s.dim, comb_at = post_at + kRows * s.hc;
  std::vector<float> pre_init(static_cast<size_t>(comb_at + kRows * s.hc * s.hc), 0.0f);
  std::copy(mixes0.begin(), mixes0.end(), pre_init.begin());
  SameOnOneAndThreeThreads<float>("HcPre", pre_init, [&](const Ops& ops, std::vector<float>& v) {
    ops.HcPre(F32Rows(h.data(), kRows, s.hc * s.dim), F32Rows(v.data(), kRows, m), scale.data(),
              base.data(), s, F32Rows(v.data() + y_at, kRows, s.dim),
              F32Rows(v.data() + post_at, kRows, s.hc),
              F32Rows(v.data() + comb_at, kRows, s.hc * s.hc));
  });
  const std::vector<float> f = RandomBf16Values(kRows * s.dim, rng, 2.0f);
  const std::vector<float> post = RandomBf16Values(kRows * s.hc, rng, 1.0f);
  const std::vector<float> comb = RandomBf16Values(kRows * s.hc * s.hc, rng, 0.5f);
  SameOnOneAndThreeThreads<float>("HcPost", h, [&](const Ops& ops, std::vector<float>& v) {
    ops.HcPost(F32Rows(f.data(), kRows, s.dim), F32Rows(v.data(), kRows, s.hc * s.dim),
               F32Rows(post.data(), kRows, s.hc), F32Rows(comb.data(), kRows, s.hc * s.hc), s,
               F32Rows(v.data(), kRows, s.hc * s.dim));
  });
  const std::vector<float> head_mixes0 = RandomBf16Values(kRows * s.hc, rng, 0.5f);
  std::vector<float> head_init(static_cast<size_t>(kRows * (s.hc + s.dim)), 0.0f);
  std::copy(head_mixes0.begin(), head_mixes0.end(), head_init.begin());
  SameOnOneAndThreeThreads<float>("HcHead", head_init, [&](const Ops& ops, std::vector<float>& v) {
    ops.HcHead(F32Rows(h.data(), kRows, s.hc * s.dim), F32Rows(v.data(), kRows, s.hc), scale.data(),
               base.data(), s, F32Rows(v.data() + kRows * s.hc, kRows, s.dim));
  });
}

}  // namespace
}  // namespace dsagent::engine::kernels::cpu_row_split_test
