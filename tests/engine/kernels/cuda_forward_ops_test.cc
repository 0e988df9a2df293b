// The CUDA forward-op kernels (attention_ops.h, indexer_ops.h, moe_ops.h, mixing_ops.h) against
// their CPU twins on random inputs with odd shapes, under the fast-mode contract (per op >= 99.9%
// of the outputs identical, the rest within 1 ulp; indices and expert ids identical). Most are
// expected bit-identical (the arithmetic is shared with the host: cuda_forward_math_test.cc); the
// counts are printed. Without a device the tests skip, unless DSAGENT_REQUIRE_CUDA=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/forward/attention.h"
#include "engine/forward/block.h"
#include "engine/forward/compressor.h"
#include "engine/forward/compute.h"
#include "engine/forward/hyper_connection.h"
#include "engine/forward/indexer.h"
#include "engine/forward/model_weights.h"
#include "engine/forward/moe.h"
#include "engine/forward/numerics.h"
#include "engine/forward/rope.h"
#include "engine/forward/sequence_state.h"
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
#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/attention_step.h"
#include "engine/kernels/cuda/block_step.h"
#include "engine/kernels/cuda/chunk_lists_math.h"
#include "engine/kernels/cuda/compressor_ops.h"
#include "engine/kernels/cuda/device_model_upload.h"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/indexer_ops.h"
#include "engine/kernels/cuda/indexer_step.h"
#include "engine/kernels/cuda/mixing_ops.h"
#include "engine/kernels/cuda/moe_ops.h"
#include "engine/kernels/cuda/moe_step.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/side_stream.h"
#include "engine/kernels/cuda/vector_steps.h"
#include "engine/model/model_config.h"
#include "engine/model/safetensors.h"
#include "tests/engine/kernels/cuda_test_support.h"
#include "tests/engine/kernels/random_moe.h"
#include "tests/engine/kernels/random_weights.h"

namespace dsagent::engine::kernels::cuda::forward_ops_test {
namespace {
using kernels::testing::HostMoe;
using kernels::testing::MakeMoe;
using test_support::ExpectContract;
using test_support::ExpectCountsAtZero;
using test_support::ToDevice;
using test_support::ToHost;

std::vector<float> RandomBf16(size_t n, std::mt19937& rng, float sigma) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = forward::RoundBf16(normal(rng));
  return v;
}

// Two device buffers of floats, what one op (or pair of ops) wrote and what its fused twin wrote,
// with a name for a failure.
struct BufferPair {
  const DeviceBuffer* want;
  const DeviceBuffer* got;
  const char* name;
};
// Each pair's buffers hold the same bits, float by float.
void ExpectSameBits(const std::vector<BufferPair>& pairs, const std::string& where,
                    CudaStream& stream) {
  for (const BufferPair& p : pairs) {
    const std::vector<float> want = ToHost(*p.want, p.want->bytes() / 4, stream);
    const std::vector<float> got = ToHost(*p.got, p.got->bytes() / 4, stream);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(test_support::Bits(got[i]), test_support::Bits(want[i]))
          << where << " " << p.name << " " << i;
    }
  }
}

// An fn of 23 x 512 on the device: not (2 + hc) * hc by hc * dim for BadFnShape()'s 4 streams of
// 128, so the fn ops must refuse it before any launch.
DeviceWeight BadHcFn(std::mt19937& rng, CudaStream& stream) {
  auto fn = kernels::testing::MakeWeight(WeightFormat::kF32, 23, 512, rng);
  return DeviceWeight::Upload(fn.matrix.rows_view(), 23, stream);
}
// A sub-layer's mHC weights on the device for 4 streams of dim: fn [(2 + hc) * hc, hc * dim]
// (F32), scale [3], base and the sub-layer norm's weight (about 1).
struct HcFnWeights {
  HcKernelShape shape;
  DeviceWeight fn;
  DeviceBuffer scale, base, norm;
};
HcFnWeights MakeHcFnWeights(int64_t dim, std::mt19937& rng, CudaStream& stream) {
  HcFnWeights w;
  w.shape.hc = 4;
  w.shape.dim = dim;
  const int64_t m = (2 + w.shape.hc) * w.shape.hc, n = w.shape.hc * dim;
  auto fn = kernels::testing::MakeWeight(WeightFormat::kF32, m, n, rng);
  w.fn = DeviceWeight::Upload(fn.matrix.rows_view(), m, stream);
  w.scale = ToDevice(std::vector<float>{0.5f, 0.25f, 1.5f}, stream);
  w.base = ToDevice(RandomBf16(static_cast<size_t>(m), rng, 1.0f), stream);
  std::vector<float> norm = RandomBf16(static_cast<size_t>(dim), rng, 0.1f);
  for (float& v : norm) v = forward::RoundBf16(1.0f + v);
  w.norm = ToDevice(norm, stream);
  return w;
}

// A sub-layer's post (about 1) and comb (a mixing matrix's size) for rows tokens, as its HcPre
// leaves them for its HcPost.
struct PostAndComb {
  std::vector<float> post, comb;
};
PostAndComb RandomPostAndComb(int64_t rows, int64_t hc, std::mt19937& rng) {
  PostAndComb p;
  p.post = RandomBf16(static_cast<size_t>(rows * hc), rng, 0.5f);
  for (float& v : p.post) v += 1.0f;
  p.comb = RandomBf16(static_cast<size_t>(rows * hc * hc), rng, 0.5f);
  return p;
}

// An HcPre's inputs on the device: `rows` rows of hc streams of dim (bf16 values), their fn
// products (about 30), the scale and a random base.
struct HcPreInputs {
  HcKernelShape shape;
  DeviceBuffer h, products, scale, base;
};
HcPreInputs MakeHcPreInputs(int64_t hc, int64_t dim, int64_t rows, std::mt19937& rng,
                            CudaStream& stream) {
  HcPreInputs in;
  in.shape.hc = hc;
  in.shape.dim = dim;
  const int64_t m = (2 + hc) * hc, n = hc * dim;
  in.h = ToDevice(RandomBf16(static_cast<size_t>(rows * n), rng, 1.0f), stream);
  in.products = ToDevice(RandomBf16(static_cast<size_t>(rows * m), rng, 30.0f), stream);
  in.scale = ToDevice(std::vector<float>{0.5f, 0.25f, 1.5f}, stream);
  in.base = ToDevice(RandomBf16(static_cast<size_t>(m), rng, 1.0f), stream);
  return in;
}

HcKernelShape BadFnShape() {
  HcKernelShape gs;
  gs.hc = 4;
  gs.dim = 128;
  return gs;
}

std::vector<uint16_t> ToBf16Bits(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = forward::FloatToBf16Bits(v[i]);
  return out;
}

TEST(CudaForwardOpsTest, HeadRmsNormMatchesTheCpu) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(201);
  for (const int64_t n : {512LL, 128LL, 333LL, 1LL}) {
    const int64_t count = 67;
    const std::vector<float> x = RandomBf16(static_cast<size_t>(count * n), rng, 2.0f);
    std::vector<float> cpu = x;
    for (int64_t v = 0; v < count; ++v) kernels::cpu::HeadRmsNormBf16(cpu.data() + v * n, n, 1e-6f);
    DeviceBuffer dx = ToDevice(x, stream);
    HeadRmsNorm(dx.as<float>(), count, n, 1e-6f, stream);
    ExpectContract(ToHost(dx, x.size(), stream), cpu, "head_rmsnorm n " + std::to_string(n), true);
  }
}

TEST(CudaForwardOpsTest, HadamardRotateMatchesTheCpu) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(203);
  for (const int64_t n : {128LL, 512LL, 2LL, 4096LL}) {
    const int64_t count = 13;
    const std::vector<float> x = RandomBf16(static_cast<size_t>(count * n), rng, 1.0f);
    std::vector<float> cpu = x;
    for (int64_t v = 0; v < count; ++v) kernels::cpu::HadamardRotateBf16(cpu.data() + v * n, n);
    DeviceBuffer dx = ToDevice(x, stream);
    HadamardRotate(dx.as<float>(), count, n, stream);
    ExpectContract(ToHost(dx, x.size(), stream), cpu, "hadamard n " + std::to_string(n), true);
  }
  float* none = nullptr;
  EXPECT_THROW(HadamardRotate(none, 1, 96, stream), CudaError);
}

TEST(CudaForwardOpsTest, SparseAttentionMatchesTheCpuHeads) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(207);
  const int64_t heads = 64, cache_rows = 700;
  for (const int64_t hd : {512LL, 72LL, 36LL}) {  // 36: not whole 16-byte pieces (element copies)
    const std::vector<uint16_t> kv =
        ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f));
    const DeviceBuffer dkv = ToDevice(kv, stream);
    DeviceBuffer split_scratch(static_cast<size_t>(SparseAttentionScratchFloats(heads, hd)) *
                               sizeof(float));
    for (const int64_t n : {0LL, 1LL, 64LL, 65LL, 640LL, 2000LL}) {
      std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
      std::vector<int32_t> index(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) {
        // The first block fully masked when there are more; every 5th entry masked.
        const bool masked = (n > 64 && j < 64) || j % 5 == 2;
        index[static_cast<size_t>(j)] = masked ? -1 : pick(rng);
      }
      const std::vector<float> q = RandomBf16(static_cast<size_t>(heads * hd), rng, 2.0f);
      const std::vector<float> sink = RandomBf16(static_cast<size_t>(heads), rng, 2.0f);
      KvRowSet cache;
      cache.parts[0] = Bf16BitRows(kv.data(), cache_rows, hd);
      cache.count = 1;
      const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
      std::vector<float> cpu(q.size());
      for (int64_t h = 0; h < heads; ++h) {
        kernels::cpu::SparseAttentionHead(q.data() + h * hd, cache, index.data(), n,
                                          sink[static_cast<size_t>(h)], hd, scale,
                                          cpu.data() + h * hd);
      }
      const DeviceBuffer dq = ToDevice(q, stream), dsink = ToDevice(sink, stream);
      const DeviceBuffer dindex = ToDevice(n > 0 ? index : std::vector<int32_t>{0}, stream);
      DeviceBuffer dout(q.size() * sizeof(float));
      // Without a scratch one CTA per head (the CPU's bits, checked as such); with one the list
      // is split over CTAs and combined (the contract; attention_math.h, flash-decoding).
      for (const bool split : {false, true}) {
        float* scratch = split ? split_scratch.as<float>() : nullptr;
        SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                        dsink.as<float>(), scale, dout.as<float>(), stream, scratch);
        const std::vector<float> gpu = ToHost(dout, q.size(), stream);
        const std::string what = std::string("sparse_attention ") + (split ? "split" : "unsplit") +
                                 " hd " + std::to_string(hd) + " n " + std::to_string(n);
        ExpectContract(gpu, cpu, what, true);
        if (!split) {
          size_t same = 0;
          for (size_t i = 0; i < gpu.size(); ++i) {
            same += test_support::Bits(gpu[i]) == test_support::Bits(cpu[i]) ? 1 : 0;
          }
          EXPECT_EQ(same, gpu.size()) << what;
        }
      }
    }
  }
}

// RoPE's frequencies for rope_dims dims (base 10000).
std::vector<float> RopeFrequencies(int64_t rope_dims) {
  std::vector<float> freqs(static_cast<size_t>(rope_dims / 2));
  for (size_t i = 0; i < freqs.size(); ++i) {
    freqs[i] = static_cast<float>(std::pow(10000.0, -2.0 * static_cast<double>(i) / rope_dims));
  }
  return freqs;
}

// SparseAttention with the output's inverse RoPE (in the combine's launch when split) against
// SparseAttention then RopeRotate: the same bits, split and not; and a split list combined by each
// head's last split (arrivals: the decode step's) against the combine's launch, with and without
// the RoPE, twice in a row (the counts are left at zero).
TEST(CudaForwardOpsTest, SparseAttentionWithInverseRopeGivesAttentionThenRopeBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(233);
  const int64_t heads = 8, hd = 512, rope_dims = 64, cache_rows = 400, n = 330, pos = 4321;
  const DeviceBuffer dkv =
      ToDevice(ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f)), stream);
  std::vector<int32_t> index(static_cast<size_t>(n));
  std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
  for (int32_t& i : index) i = pick(rng);
  const std::vector<float> freqs = RopeFrequencies(rope_dims);
  const DeviceBuffer dq = ToDevice(RandomBf16(static_cast<size_t>(heads * hd), rng, 2.0f), stream);
  const DeviceBuffer dsink = ToDevice(RandomBf16(static_cast<size_t>(heads), rng, 2.0f), stream);
  const DeviceBuffer dindex = ToDevice(index, stream), dfreqs = ToDevice(freqs, stream);
  DeviceBuffer scratch(static_cast<size_t>(SparseAttentionScratchFloats(heads, hd)) * 4);
  DeviceBuffer fused(static_cast<size_t>(heads * hd) * 4), apart(fused.bytes()),
      last_split(fused.bytes()), arrivals(static_cast<size_t>(SparseAttentionArrivalsBytes(heads)));
  arrivals.Zero(stream);
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  ASSERT_GT(PlanAttentionSplits(n, heads).splits, 1) << "the list must be split";
  const auto expect_bits = [&](const DeviceBuffer& got_buffer, const std::vector<float>& want,
                               const std::string& what) {
    const std::vector<float> got = ToHost(got_buffer, want.size(), stream);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(test_support::Bits(got[i]), test_support::Bits(want[i])) << what << " " << i;
    }
  };
  const InverseRope rope{dfreqs.as<float>(), rope_dims, pos};
  for (const int mode : {0, 1, 2}) {  // one CTA a head, split, split combined by the last split
    const std::string name = mode == 0   ? "one CTA a head"
                             : mode == 1 ? "split"
                                         : "split, combined by the last split";
    float* sc = mode > 0 ? scratch.as<float>() : nullptr;
    unsigned* arr = mode == 2 ? arrivals.as<unsigned>() : nullptr;
    SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                    dsink.as<float>(), scale, apart.as<float>(), stream, sc);
    const std::vector<float> unrotated = ToHost(apart, static_cast<size_t>(heads * hd), stream);
    RopeRotate(apart.as<float>(), heads, hd, hd, rope_dims, dfreqs.as<float>(), pos, true, stream);
    const std::vector<float> want = ToHost(apart, static_cast<size_t>(heads * hd), stream);
    ASSERT_NE(want, unrotated);
    // Each call's scratch starts as NaNs: a combine that read a split before it was written
    // (the previous call's values would be the same) shows.
    const std::vector<float> nans(scratch.bytes() / 4, std::numeric_limits<float>::quiet_NaN());
    for (int call = 0; call < (mode == 2 ? 2 : 1); ++call) {
      fused.Zero(stream);
      scratch.Upload(nans.data(), scratch.bytes(), stream);
      SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                      dsink.as<float>(), scale, fused.as<float>(), stream, sc, rope, arr);
      expect_bits(fused, want, name + " with RoPE, call " + std::to_string(call));
      if (mode != 2) continue;
      last_split.Zero(stream);
      scratch.Upload(nans.data(), scratch.bytes(), stream);
      SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                      dsink.as<float>(), scale, last_split.as<float>(), stream, sc, {}, arr);
      expect_bits(last_split, unrotated, name + ", call " + std::to_string(call));
      ExpectCountsAtZero(arrivals, SparseAttentionArrivalsBytes(heads) / 4, name, stream);
    }
  }
  EXPECT_THROW(SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(),
                               n, dsink.as<float>(), scale, fused.as<float>(), stream, nullptr,
                               InverseRope{dfreqs.as<float>(), 63, pos}),
               CudaError);
}

// A split list combined by its last split finds the splits' maxima in the same launch (the
// look-back: each split publishes its max and waits for the earlier ones') where its splits are
// at most 32 blocks: the bits of the maxima's own launch and the combine's (no arrivals), for
// splits of one block, of two, of 32 (the largest) and of 33 (the maxima's launch again), with
// masked entries, a split masked whole (its max is -inf) and splits whose max is below an
// earlier one's. Each list runs twice, the second time with another query: a published max left
// from the call before would be read at once and move the softmax's start. The arrivals memory
// (counts, ticket, maxima) is zero after every call. SparseAttentionRows with arrivals likewise,
// on rows of the whole list, a third of it and one entry (a row of one split) at the list's
// length as the stride: each row the bits of SparseAttention over its list alone.
TEST(CudaForwardOpsTest, SparseAttentionLookBackGivesTheSeparateMaximaLaunchBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(4099);
  const int64_t heads = 4, hd = 32, cache_rows = 500;
  const DeviceBuffer dkv =
      ToDevice(ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f)), stream);
  const DeviceBuffer dsink = ToDevice(RandomBf16(static_cast<size_t>(heads), rng, 2.0f), stream);
  DeviceBuffer scratch(static_cast<size_t>(SparseAttentionScratchFloats(heads, hd)) * 4);
  DeviceBuffer arrivals(static_cast<size_t>(SparseAttentionArrivalsBytes(heads)));
  arrivals.Zero(stream);
  DeviceBuffer apart(static_cast<size_t>(heads * hd) * 4), fused(apart.bytes());
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  // Lists of 5, 32, 512 and 528 blocks: 16 splits (heads 4 want 256) of 1 (5 splits), 2, 32, 33.
  for (const int64_t n : {300, 2048, 32768, 33792}) {
    const AttentionSplitPlan plan = PlanAttentionSplits(n, heads);
    ASSERT_GT(plan.splits, 1);
    const int64_t per = static_cast<int64_t>(plan.blocks_per_split) * kAttentionBlock;
    std::vector<int32_t> index(static_cast<size_t>(n));
    std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
    for (int32_t& i : index) i = pick(rng);
    for (int64_t j = 0; j < n; j += 7) index[static_cast<size_t>(j)] = -1;
    // Split 1 masked whole; random rows give the others maxima above and below earlier ones'.
    for (int64_t j = per; j < std::min(n, 2 * per); ++j) index[static_cast<size_t>(j)] = -1;
    const DeviceBuffer dindex = ToDevice(index, stream);
    for (int call = 0; call < 2; ++call) {
      const DeviceBuffer dq =
          ToDevice(RandomBf16(static_cast<size_t>(heads * hd), rng, 3.0f), stream);
      const std::string what = "n " + std::to_string(n) + " (" + std::to_string(plan.splits) +
                               " splits of " + std::to_string(plan.blocks_per_split) +
                               " blocks), call " + std::to_string(call);
      SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                      dsink.as<float>(), scale, apart.as<float>(), stream, scratch.as<float>());
      const std::vector<float> want = ToHost(apart, static_cast<size_t>(heads * hd), stream);
      fused.Zero(stream);
      SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                      dsink.as<float>(), scale, fused.as<float>(), stream, scratch.as<float>(), {},
                      arrivals.as<unsigned>());
      const std::vector<float> got = ToHost(fused, want.size(), stream);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(test_support::Bits(got[i]), test_support::Bits(want[i])) << what << " " << i;
      }
      ExpectCountsAtZero(arrivals, SparseAttentionArrivalsBytes(heads) / 4, what, stream);
      // Rows: the list, its first third, its first entry.
      const std::vector<int64_t> row_n = {n, n / 3, 1};
      const int64_t rows = static_cast<int64_t>(row_n.size());
      std::vector<int32_t> lists, n32;
      std::vector<float> row_q;
      int max_splits = 1;
      for (const int64_t len : row_n) {
        lists.insert(lists.end(), index.begin(), index.begin() + len);
        lists.resize(lists.size() + static_cast<size_t>(n - len), -1);
        n32.push_back(static_cast<int32_t>(len));
        const std::vector<float> one = ToHost(dq, static_cast<size_t>(heads * hd), stream);
        row_q.insert(row_q.end(), one.begin(), one.end());
        max_splits = std::max(max_splits, SparseAttentionRowSplits(len, heads));
      }
      const DeviceBuffer dlists = ToDevice(lists, stream), dn = ToDevice(n32, stream),
                         drow_q = ToDevice(row_q, stream);
      DeviceBuffer rows_scratch(
          static_cast<size_t>(SparseAttentionRowsScratchFloats(rows, heads, hd)) * 4);
      DeviceBuffer rows_arrivals(
          static_cast<size_t>(SparseAttentionRowsArrivalsBytes(rows, heads)));
      rows_arrivals.Zero(stream);
      DeviceBuffer rows_out(row_q.size() * 4);
      SparseAttentionRows(drow_q.as<float>(), rows, heads, hd, dkv.as<uint16_t>(), nullptr,
                          dlists.as<int32_t>(), n, dn.as<int32_t>(), max_splits, dsink.as<float>(),
                          scale, rows_out.as<float>(), stream, rows_scratch.as<float>(), nullptr,
                          rows_arrivals.as<unsigned>());
      const std::vector<float> rows_got = ToHost(rows_out, row_q.size(), stream);
      for (int64_t r = 0; r < rows; ++r) {
        SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(),
                        row_n[static_cast<size_t>(r)], dsink.as<float>(), scale, apart.as<float>(),
                        stream, scratch.as<float>());
        const std::vector<float> row_want = ToHost(apart, static_cast<size_t>(heads * hd), stream);
        for (size_t i = 0; i < row_want.size(); ++i) {
          ASSERT_EQ(test_support::Bits(rows_got[static_cast<size_t>(r * heads * hd) + i]),
                    test_support::Bits(row_want[i]))
              << what << ", rows: row " << r << " " << i;
        }
      }
      ExpectCountsAtZero(rows_arrivals, SparseAttentionRowsArrivalsBytes(rows, heads) / 4,
                         what + ", rows", stream);
    }
  }
}

// SparseAttention with the query's steps in its own launches (QueryPrep: the decode step's head
// norm and RoPE on each CTA's copy of its head) against RunVectorSteps then SparseAttention: the
// same bits, one CTA a head, split, and split with the last split's combine and inverse RoPE; q is
// left as it was.
TEST(CudaForwardOpsTest, SparseAttentionWithQueryPrepGivesVectorStepsThenAttentionBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(239);
  const int64_t heads = 8, hd = 512, rope_dims = 64, cache_rows = 400, n = 330, pos = 1234;
  const float eps = 1e-6f;
  const DeviceBuffer dkv =
      ToDevice(ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f)), stream);
  std::vector<int32_t> index(static_cast<size_t>(n));
  std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
  for (int32_t& i : index) i = pick(rng);
  const std::vector<float> freqs = RopeFrequencies(rope_dims);
  const std::vector<float> q = RandomBf16(static_cast<size_t>(heads * hd), rng, 3.0f);
  const DeviceBuffer dq = ToDevice(q, stream);
  const DeviceBuffer dsink = ToDevice(RandomBf16(static_cast<size_t>(heads), rng, 2.0f), stream);
  const DeviceBuffer dindex = ToDevice(index, stream), dfreqs = ToDevice(freqs, stream);
  DeviceBuffer scratch(static_cast<size_t>(SparseAttentionScratchFloats(heads, hd)) * 4);
  DeviceBuffer arrivals(static_cast<size_t>(SparseAttentionArrivalsBytes(heads)));
  arrivals.Zero(stream);
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  const VectorSteps steps =
      AttentionQuerySteps(heads, eps, rope_dims, dfreqs.as<float>(), pos, nullptr);
  QueryPrep prep;
  prep.head_norm = true;
  prep.eps = eps;
  prep.freqs = dfreqs.as<float>();
  prep.rope_dims = rope_dims;
  prep.pos = pos;
  const InverseRope rope{dfreqs.as<float>(), rope_dims, pos};
  const auto size = static_cast<size_t>(heads * hd);
  for (const int mode : {0, 1, 2}) {  // one CTA a head, split, split combined by the last split
    const std::string name = mode == 0   ? "one CTA a head"
                             : mode == 1 ? "split"
                                         : "split, combined by the last split";
    float* sc = mode > 0 ? scratch.as<float>() : nullptr;
    unsigned* arr = mode == 2 ? arrivals.as<unsigned>() : nullptr;
    const InverseRope out_rope = mode == 2 ? rope : InverseRope{};
    DeviceBuffer stepped = ToDevice(q, stream), want(size * 4), got(size * 4), plain(size * 4);
    RunVectorSteps(stepped.as<float>(), heads, hd, steps, stream);
    SparseAttention(stepped.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                    dsink.as<float>(), scale, want.as<float>(), stream, sc, out_rope, arr);
    SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                    dsink.as<float>(), scale, got.as<float>(), stream, sc, out_rope, arr, prep);
    SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                    dsink.as<float>(), scale, plain.as<float>(), stream, sc, out_rope, arr);
    const std::vector<float> a = ToHost(want, size, stream), b = ToHost(got, size, stream);
    for (size_t i = 0; i < size; ++i) {
      ASSERT_EQ(test_support::Bits(b[i]), test_support::Bits(a[i])) << name << " " << i;
    }
    EXPECT_NE(ToHost(plain, size, stream), a) << name << ": the steps change the output";
    EXPECT_EQ(ToHost(dq, size, stream), q) << name << ": q is left as it was";
  }
  DeviceBuffer out(size * 4);
  QueryPrep odd = prep;
  odd.rope_dims = 63;
  EXPECT_THROW(
      SparseAttention(dq.as<float>(), heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(), n,
                      dsink.as<float>(), scale, out.as<float>(), stream, nullptr, {}, nullptr, odd),
      CudaError);
}

// SparseAttentionRows with each row's query steps in its launch (QueryPrep with the rows'
// positions: the rows path's query, as wq_b leaves it) = RunVectorSteps on the rows (head norm,
// RoPE at each row's position) then SparseAttentionRows, bit for bit: rows of one CTA a head and
// split ones, the splits' maxima in a launch of their own or by the look-back. q is left as it was.
TEST(CudaForwardOpsTest, SparseAttentionRowsWithQueryPrepGivesVectorStepsThenAttentionBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(243);
  const int64_t heads = 8, hd = 512, rope_dims = 64, cache_rows = 400, stride = 720;
  const std::vector<int64_t> lengths = {700, 1, 65, 200};
  const std::vector<int32_t> positions = {1234, 5, 77, 300};
  const int64_t rows = static_cast<int64_t>(lengths.size());
  const float eps = 1e-6f;
  const DeviceBuffer dkv =
      ToDevice(ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f)), stream);
  std::vector<int32_t> lists(static_cast<size_t>(rows * stride), -1), n;
  std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
  int max_splits = 1;
  for (int64_t t = 0; t < rows; ++t) {
    const int64_t len = lengths[static_cast<size_t>(t)];
    for (int64_t j = 0; j < len; ++j) lists[static_cast<size_t>(t * stride + j)] = pick(rng);
    n.push_back(static_cast<int32_t>(len));
    max_splits = std::max(max_splits, SparseAttentionRowSplits(len, heads));
  }
  const std::vector<float> freqs = RopeFrequencies(rope_dims);
  const std::vector<float> q = RandomBf16(static_cast<size_t>(rows * heads * hd), rng, 3.0f);
  const DeviceBuffer dq = ToDevice(q, stream), dlists = ToDevice(lists, stream),
                     dn = ToDevice(n, stream), dpos = ToDevice(positions, stream),
                     dfreqs = ToDevice(freqs, stream),
                     dsink = ToDevice(RandomBf16(static_cast<size_t>(heads), rng, 2.0f), stream);
  DeviceBuffer scratch(static_cast<size_t>(SparseAttentionRowsScratchFloats(rows, heads, hd)) * 4);
  DeviceBuffer arrivals(static_cast<size_t>(SparseAttentionRowsArrivalsBytes(rows, heads)));
  arrivals.Zero(stream);
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  const VectorSteps steps =
      AttentionQuerySteps(heads, eps, rope_dims, dfreqs.as<float>(), 0, dpos.as<int32_t>());
  const QueryPrep prep{true, eps, dfreqs.as<float>(), rope_dims, 0, dpos.as<int32_t>()};
  const InverseRope rope{dfreqs.as<float>(), rope_dims, 0, dpos.as<int32_t>()};
  const auto size = static_cast<size_t>(rows * heads * hd);
  DeviceBuffer stepped = ToDevice(q, stream);
  RunVectorSteps(stepped.as<float>(), rows * heads, hd, steps, stream);
  for (const int mode : {0, 1, 2}) {  // one CTA a head, split, split combined by the last split
    const std::string name = mode == 0   ? "one CTA a head"
                             : mode == 1 ? "split"
                                         : "split, combined by the last split";
    float* sc = mode > 0 ? scratch.as<float>() : nullptr;
    unsigned* arr = mode == 2 ? arrivals.as<unsigned>() : nullptr;
    const int splits = mode > 0 ? max_splits : 1;
    DeviceBuffer want(size * 4), got(size * 4);
    SparseAttentionRows(stepped.as<float>(), rows, heads, hd, dkv.as<uint16_t>(), nullptr,
                        dlists.as<int32_t>(), stride, dn.as<int32_t>(), splits, dsink.as<float>(),
                        scale, want.as<float>(), stream, sc, nullptr, arr, rope);
    SparseAttentionRows(dq.as<float>(), rows, heads, hd, dkv.as<uint16_t>(), nullptr,
                        dlists.as<int32_t>(), stride, dn.as<int32_t>(), splits, dsink.as<float>(),
                        scale, got.as<float>(), stream, sc, nullptr, arr, rope, prep);
    const std::vector<float> a = ToHost(want, size, stream), b = ToHost(got, size, stream);
    for (size_t i = 0; i < size; ++i) {
      ASSERT_EQ(test_support::Bits(b[i]), test_support::Bits(a[i])) << name << " " << i;
    }
    EXPECT_EQ(ToHost(dq, size, stream), q) << name << ": q is left as it was";
  }
  QueryPrep one_position = prep;
  one_position.positions = nullptr;
  DeviceBuffer out(size * 4);
  EXPECT_THROW(SparseAttentionRows(dq.as<float>(), rows, heads, hd, dkv.as<uint16_t>(), nullptr,
                                   dlists.as<int32_t>(), stride, dn.as<int32_t>(), 1,
                                   dsink.as<float>(), scale, out.as<float>(), stream, nullptr,
                                   nullptr, nullptr, {}, one_position),
               CudaError);
}

// Prefill: several tokens, each over its own list (lengths 0 to 300, masked entries), as
// forward/attention.cc lays them out.
TEST(CudaForwardOpsTest, SparseAttentionTokensMatchesTheCpuPerTokenLists) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(209);
  const int64_t heads = 16, hd = 512, cache_rows = 400, tokens = 6;
  const std::vector<uint16_t> kv =
      ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f));
  const std::vector<int64_t> lengths = {0, 1, 64, 129, 300, 17};
  std::vector<int64_t> list_begin = {0};
  std::vector<int32_t> index;
  std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
  for (const int64_t len : lengths) {
    for (int64_t j = 0; j < len; ++j) index.push_back(j % 9 == 4 ? -1 : pick(rng));
    list_begin.push_back(static_cast<int64_t>(index.size()));
  }
  const std::vector<float> q = RandomBf16(static_cast<size_t>(tokens * heads * hd), rng, 2.0f);
  const std::vector<float> sink = RandomBf16(static_cast<size_t>(heads), rng, 2.0f);
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  KvRowSet cache;
  cache.parts[0] = Bf16BitRows(kv.data(), cache_rows, hd);
  cache.count = 1;
  std::vector<float> cpu(q.size());
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t b = list_begin[static_cast<size_t>(t)];
    for (int64_t h = 0; h < heads; ++h) {
      kernels::cpu::SparseAttentionHead(q.data() + (t * heads + h) * hd, cache, index.data() + b,
                                        list_begin[static_cast<size_t>(t + 1)] - b,
                                        sink[static_cast<size_t>(h)], hd, scale,
                                        cpu.data() + (t * heads + h) * hd);
    }
  }
  const DeviceBuffer dkv = ToDevice(kv, stream), dq = ToDevice(q, stream),
                     dsink = ToDevice(sink, stream), dindex = ToDevice(index, stream),
                     dbegin = ToDevice(list_begin, stream);
  DeviceBuffer dout(q.size() * sizeof(float));
  SparseAttentionTokens(dq.as<float>(), tokens, heads, hd, dkv.as<uint16_t>(), dindex.as<int32_t>(),
                        dbegin.as<int64_t>(), dsink.as<float>(), scale, dout.as<float>(), stream);
  ExpectContract(ToHost(dout, q.size(), stream), cpu, "sparse_attention tokens", true);
}

// A chunk's rows at once (SparseAttentionRows, chunk_lists_math.h) = SparseAttention on each
// row's list alone, bit for bit, split and unsplit: lists that read cache rows, staged rows
// (kStagedRow + s) and masked entries, of lengths from 1 (one split) to 700 (eleven), in a grid
// sized by the longest. With each row's RoPE undone in the launch (InverseRope at its position,
// split rows combined by their last split): that output then RopeRotate's inverse, bit for bit.
TEST(CudaForwardOpsTest, SparseAttentionRowsGivesEachRowsOwnListsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(213);
  const int64_t heads = 64, hd = 512, cache_rows = 400, staged_rows = 300;
  const std::vector<int64_t> lengths = {700, 1, 64, 65, 200, 129, 640};
  const int64_t rows = static_cast<int64_t>(lengths.size()), stride = 720;
  const std::vector<uint16_t> kv =
      ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f));
  const std::vector<uint16_t> staged =
      ToBf16Bits(RandomBf16(static_cast<size_t>(staged_rows * hd), rng, 1.0f));
  // The reference reads one buffer: the cache rows, then the staged ones.
  std::vector<uint16_t> both = kv;
  both.insert(both.end(), staged.begin(), staged.end());
  std::vector<int32_t> lists(static_cast<size_t>(rows * stride), -7), n(static_cast<size_t>(rows));
  std::vector<std::vector<int32_t>> alone(static_cast<size_t>(rows));
  std::uniform_int_distribution<int32_t> pick_cache(0, cache_rows - 1),
      pick_staged(0, staged_rows - 1);
  for (int64_t t = 0; t < rows; ++t) {
    const int64_t len = lengths[static_cast<size_t>(t)];
    n[static_cast<size_t>(t)] = static_cast<int32_t>(len);
    for (int64_t j = 0; j < len; ++j) {
      int32_t e, ref;
      if (j % 7 == 3) {
        e = ref = -1;
      } else if (j % 3 == 0) {
        const int32_t r = pick_staged(rng);
        e = kStagedRow + r;
        ref = static_cast<int32_t>(cache_rows) + r;
      } else {
        e = ref = pick_cache(rng);
      }
      lists[static_cast<size_t>(t * stride + j)] = e;
      alone[static_cast<size_t>(t)].push_back(ref);
    }
  }
  const std::vector<float> q = RandomBf16(static_cast<size_t>(rows * heads * hd), rng, 2.0f);
  const std::vector<float> sink = RandomBf16(static_cast<size_t>(heads), rng, 2.0f);
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  const DeviceBuffer dkv = ToDevice(kv, stream), dstaged = ToDevice(staged, stream),
                     dboth = ToDevice(both, stream), dq = ToDevice(q, stream),
                     dsink = ToDevice(sink, stream), dlists = ToDevice(lists, stream),
                     dn = ToDevice(n, stream);
  DeviceBuffer split_scratch(static_cast<size_t>(SparseAttentionScratchFloats(heads, hd)) * 4);
  DeviceBuffer rows_scratch(static_cast<size_t>(SparseAttentionRowsScratchFloats(rows, heads, hd)) *
                            4);
  int max_splits = 1;
  for (const int64_t len : lengths)
    max_splits = std::max(max_splits, SparseAttentionRowSplits(len, heads));
  EXPECT_GT(max_splits, 8);
  EXPECT_EQ(SparseAttentionRowSplits(1, heads), 1);
  // Several sequences' rows in one launch (row_kv): odd rows over another cache.
  const std::vector<uint16_t> kv2 =
      ToBf16Bits(RandomBf16(static_cast<size_t>(cache_rows * hd), rng, 1.0f));
  std::vector<uint16_t> both2 = kv2;
  both2.insert(both2.end(), staged.begin(), staged.end());
  const DeviceBuffer dkv2 = ToDevice(kv2, stream), dboth2 = ToDevice(both2, stream);
  std::vector<const uint16_t*> per_row;
  for (int64_t t = 0; t < rows; ++t) {
    per_row.push_back(t % 2 == 1 ? dkv2.as<uint16_t>() : dkv.as<uint16_t>());
  }
  const DeviceBuffer dper_row = ToDevice(per_row, stream);
  // The inverse RoPE's frequencies (V4's, on the last 64 dims) and each row's position.
  const int64_t rope_dims = 64;
  const std::vector<float> freqs = RopeFrequencies(rope_dims);
  std::vector<int32_t> positions(static_cast<size_t>(rows));
  for (int32_t& p : positions) p = static_cast<int32_t>(rng() % 5000);
  const DeviceBuffer dfreqs = ToDevice(freqs, stream), dpositions = ToDevice(positions, stream);
  DeviceBuffer arrivals(static_cast<size_t>(SparseAttentionRowsArrivalsBytes(rows, heads)));
  arrivals.Zero(stream);
  const struct {
    bool split, row_kv, rope;
  } variants[] = {{false, false, false}, {false, true, false}, {true, false, false},
                  {true, true, false},   {false, false, true}, {true, true, true}};
  for (const auto& [split, row_kv, rope] : variants) {
    DeviceBuffer dout(q.size() * sizeof(float)), done(static_cast<size_t>(heads * hd) * 4);
    const InverseRope inverse =
        rope ? InverseRope{dfreqs.as<float>(), rope_dims, 0, dpositions.as<int32_t>()}
             : InverseRope{};
    SparseAttentionRows(dq.as<float>(), rows, heads, hd, row_kv ? nullptr : dkv.as<uint16_t>(),
                        dstaged.as<uint16_t>(), dlists.as<int32_t>(), stride, dn.as<int32_t>(),
                        max_splits, dsink.as<float>(), scale, dout.as<float>(), stream,
                        split ? rows_scratch.as<float>() : nullptr,
                        row_kv ? dper_row.as<const uint16_t*>() : nullptr,
                        rope ? arrivals.as<unsigned>() : nullptr, inverse);
    const std::vector<float> got = ToHost(dout, q.size(), stream);
    for (int64_t t = 0; t < rows; ++t) {
      // Each row: the bits of SparseAttention over its own list and cache alone.
      const std::vector<int32_t>& list = alone[static_cast<size_t>(t)];
      const DeviceBuffer dlist = ToDevice(list, stream);
      const DeviceBuffer& cache = row_kv && t % 2 == 1 ? dboth2 : dboth;
      SparseAttention(dq.as<float>() + t * heads * hd, heads, hd, cache.as<uint16_t>(),
                      dlist.as<int32_t>(), static_cast<int64_t>(list.size()), dsink.as<float>(),
                      scale, done.as<float>(), stream, split ? split_scratch.as<float>() : nullptr);
      if (rope) {
        RopeRotate(done.as<float>(), heads, hd, hd, rope_dims, dfreqs.as<float>(),
                   positions[static_cast<size_t>(t)], /*inverse=*/true, stream);
      }
      const std::vector<float> want = ToHost(done, static_cast<size_t>(heads * hd), stream);
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(test_support::Bits(got[static_cast<size_t>(t * heads * hd) + i]),
                  test_support::Bits(want[i]))
            << (split ? "split" : "unsplit") << (row_kv ? ", per-row caches" : "")
            << (rope ? ", RoPE undone" : "") << ", row " << t << " (" << list.size()
            << " entries), value " << i;
      }
    }
  }
  ExpectCountsAtZero(arrivals, SparseAttentionRowsArrivalsBytes(rows, heads) / 4, "rows with RoPE",
                     stream);
  // RoPE without the rows' positions: refused.
  DeviceBuffer dout(q.size() * sizeof(float));
  EXPECT_THROW(
      SparseAttentionRows(dq.as<float>(), rows, heads, hd, dkv.as<uint16_t>(),
                          dstaged.as<uint16_t>(), dlists.as<int32_t>(), stride, dn.as<int32_t>(),
                          max_splits, dsink.as<float>(), scale, dout.as<float>(), stream, nullptr,
                          nullptr, nullptr, InverseRope{dfreqs.as<float>(), rope_dims, 0, nullptr}),
      CudaError);
}

// A chunk's rows scored together (IndexerScoresRows: rows at consecutive positions, each over the
// keys it sees, padded with -inf) = IndexerScores row by row, bit for bit, for both kernels (V4's
// 64 heads of 128, and 24 of 96); and TopK over the padded rows gives each row the selection TopK
// gives its own scores (the first min(k, keys) entries).
TEST(CudaForwardOpsTest, IndexerScoresRowsAndTopKGiveEachRowsOwnSelection) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(215);
  struct Case {
    int64_t heads, hd, pos0, rows, ratio, k;
  };
  for (const Case c :
       {Case{64, 128, 0, 20, 4, 16}, Case{64, 128, 1500, 16, 4, 512}, Case{24, 96, 37, 9, 4, 8}}) {
    const int64_t keys_n = (c.pos0 + c.rows) / c.ratio;
    const int64_t pad_to = std::max(c.k, keys_n);
    const std::vector<uint16_t> keys =
        ToBf16Bits(RandomBf16(static_cast<size_t>(std::max<int64_t>(keys_n, 1) * c.hd), rng, 1.0f));
    const std::vector<float> q =
        RandomBf16(static_cast<size_t>(c.rows * c.heads * c.hd), rng, 1.0f);
    const std::vector<float> hw = RandomBf16(static_cast<size_t>(c.rows * c.heads), rng, 1.0f);
    const DeviceBuffer dkeys = ToDevice(keys, stream), dq = ToDevice(q, stream),
                       dhw = ToDevice(hw, stream);
    DeviceBuffer drows(static_cast<size_t>(c.rows * pad_to) * 4),
        done(static_cast<size_t>(pad_to) * 4);
    IndexerScoresRows(dq.as<float>(), dhw.as<float>(), c.heads, c.hd, dkeys.as<uint16_t>(), c.pos0,
                      c.rows, c.ratio, drows.as<float>(), pad_to, pad_to, stream);
    DeviceBuffer dsel(static_cast<size_t>(c.rows * c.k) * 4),
        done_sel(static_cast<size_t>(c.k) * 4);
    TopK(drows.as<float>(), c.rows, pad_to, c.k, dsel.as<int32_t>(), stream);
    const std::vector<float> rows_scores =
        ToHost(drows, static_cast<size_t>(c.rows * pad_to), stream);
    const auto sel = ToHost<int32_t>(dsel, static_cast<size_t>(c.rows * c.k), stream);
    const std::string name =
        std::to_string(c.heads) + "x" + std::to_string(c.hd) + " from " + std::to_string(c.pos0);
    for (int64_t t = 0; t < c.rows; ++t) {
      const int64_t n = (c.pos0 + t + 1) / c.ratio;
      IndexerScores(dq.as<float>() + t * c.heads * c.hd, dhw.as<float>() + t * c.heads, c.heads,
                    c.hd, dkeys.as<uint16_t>(), n, done.as<float>(), stream);
      const std::vector<float> alone =
          ToHost(done, static_cast<size_t>(std::max<int64_t>(n, 1)), stream);
      for (int64_t e = 0; e < pad_to; ++e) {
        const float got = rows_scores[static_cast<size_t>(t * pad_to + e)];
        if (e < n) {
          ASSERT_EQ(test_support::Bits(got), test_support::Bits(alone[static_cast<size_t>(e)]))
              << name << " row " << t << " key " << e;
        } else {
          ASSERT_TRUE(std::isinf(got) && got < 0) << name << " row " << t << " padding " << e;
        }
      }
      const int64_t kept = std::min(c.k, n);
      if (kept == 0) continue;
      TopK(done.as<float>(), 1, n, c.k, done_sel.as<int32_t>(), stream);
      const auto want = ToHost<int32_t>(done_sel, static_cast<size_t>(kept), stream);
      for (int64_t j = 0; j < kept; ++j) {
        ASSERT_EQ(sel[static_cast<size_t>(t * c.k + j)], want[static_cast<size_t>(j)])
            << name << " row " << t << " selection " << j;
      }
    }
  }
}

// A batched step's selection (IndexerScoresSequences, TopKSequences: rows of different
// sequences, each with its own keys and position) = IndexerScores and TopK on each row alone:
// each row's scores bit for bit and nothing written past them, its selection in its own list
// slot (out_stride past k, the window's offset added), on V4's shape (the tiled kernel) and a
// shape the warp-per-entry kernel takes, with rows that see no key, fewer keys than k, and more;
// and with each row's query steps in the scores' launch (IndexerQueryPrep at its position).
TEST(CudaForwardOpsTest, IndexerScoresSequencesAndTopKSequencesGiveEachRowsOwnSelection) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(241);
  struct Case {
    int64_t heads, hd, k;
    std::vector<int64_t> positions;
  };
  const int64_t ratio = 4, window = 5;
  std::vector<float> freqs(32);
  for (size_t i = 0; i < freqs.size(); ++i) {
    freqs[i] = std::pow(10000.0f, -static_cast<float>(i) / 32.0f);
  }
  const DeviceBuffer dfreqs = ToDevice(freqs, stream);
  for (const Case& c : {Case{64, 128, 16, {2, 40, 9, 130, 63}}, Case{24, 128, 8, {700, 3, 31}}}) {
    const int64_t n = static_cast<int64_t>(c.positions.size());
    int64_t longest = 0;
    for (const int64_t p : c.positions) longest = std::max(longest, (p + 1) / ratio);
    const int64_t length = std::max(c.k, longest), out_stride = window + c.k + 3;
    std::vector<DeviceBuffer> keys;
    std::vector<CompressorRow> rows;
    std::vector<int32_t> pos;
    for (const int64_t p : c.positions) {
      const int64_t visible = (p + 1) / ratio;
      keys.push_back(
          ToDevice(ToBf16Bits(RandomBf16(static_cast<size_t>(std::max<int64_t>(visible, 1) * c.hd),
                                         rng, 1.0f)),
                   stream));
      rows.push_back({nullptr, nullptr, keys.back().as<uint16_t>()});
      pos.push_back(static_cast<int32_t>(p));
    }
    DeviceBuffer drows(rows.size() * sizeof(CompressorRow)), dpos(pos.size() * 4);
    drows.Upload(rows.data(), drows.bytes(), stream);
    dpos.Upload(pos.data(), dpos.bytes(), stream);
    const std::vector<float> q = RandomBf16(static_cast<size_t>(n * c.heads * c.hd), rng, 1.0f);
    const std::vector<float> hw = RandomBf16(static_cast<size_t>(n * c.heads), rng, 1.0f);
    const DeviceBuffer dq = ToDevice(q, stream), dhw = ToDevice(hw, stream);
    // Scores and lists start as sentinels: what the launches leave alone stays.
    const float sentinel = 12345.0f;
    DeviceBuffer scores =
        ToDevice(std::vector<float>(static_cast<size_t>(n * length), sentinel), stream);
    DeviceBuffer lists =
        ToDevice(std::vector<int32_t>(static_cast<size_t>(n * out_stride), -7), stream);
    const float head_scale = 0.125f;
    IndexerScoresSequences(dq.as<float>(), dhw.as<float>(), c.heads, c.hd,
                           drows.as<CompressorRow>(), dpos.as<int32_t>(), n, ratio, longest,
                           scores.as<float>(), length, stream, head_scale);
    ASSERT_TRUE(TopKSequencesTakes(length));
    TopKSequences(scores.as<float>(), n, length, c.k, dpos.as<int32_t>(), ratio,
                  lists.as<int32_t>() + window, out_stride, stream, static_cast<int32_t>(window));
    const auto got_scores = ToHost(scores, static_cast<size_t>(n * length), stream);
    const auto got_lists = ToHost<int32_t>(lists, static_cast<size_t>(n * out_stride), stream);
    DeviceBuffer alone(static_cast<size_t>(std::max(longest, int64_t{1})) * 4),
        alone_sel(static_cast<size_t>(c.k) * 4);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t visible = (c.positions[static_cast<size_t>(t)] + 1) / ratio;
      const std::string at = std::to_string(c.heads) + "x" + std::to_string(c.hd) + " row " +
                             std::to_string(t) + " (" + std::to_string(visible) + " keys)";
      if (visible > 0) {
        IndexerScores(dq.as<float>() + t * c.heads * c.hd, dhw.as<float>() + t * c.heads, c.heads,
                      c.hd, keys[static_cast<size_t>(t)].as<uint16_t>(), visible, alone.as<float>(),
                      stream, head_scale);
      }
      const auto want = ToHost(alone, static_cast<size_t>(visible), stream);
      for (int64_t e = 0; e < length; ++e) {
        const float v = got_scores[static_cast<size_t>(t * length + e)];
        if (e < visible) {
          ASSERT_EQ(test_support::Bits(v), test_support::Bits(want[static_cast<size_t>(e)]))
              << at << " score " << e;
        } else {
          ASSERT_EQ(v, sentinel) << at << " wrote past its keys at " << e;
        }
      }
      const int32_t* list = got_lists.data() + t * out_stride;
      for (int64_t j = 0; j < window; ++j) ASSERT_EQ(list[j], -7) << at << " window " << j;
      for (int64_t j = window + c.k; j < out_stride; ++j) ASSERT_EQ(list[j], -7) << at << " " << j;
      const int64_t kept = std::min(c.k, visible);
      if (kept == 0) continue;
      TopK(alone.as<float>(), 1, visible, c.k, alone_sel.as<int32_t>(), stream);
      const auto sel = ToHost<int32_t>(alone_sel, static_cast<size_t>(kept), stream);
      for (int64_t j = 0; j < kept; ++j) {
        ASSERT_EQ(list[window + j], sel[static_cast<size_t>(j)] + window)
            << at << " selection " << j;
      }
      // The padding indices after a short row's selection point past its keys.
      for (int64_t j = kept; j < c.k; ++j) ASSERT_GE(list[window + j], window + visible) << at;
    }
    // The queries' steps (RoPE at each row's own position, Hadamard, FP4) in the scores' launch
    // = RunVectorSteps on the rows first, then the scores: the same bits.
    const IndexerQueryPrep prep{true, dfreqs.as<float>(), 64, 0, nullptr};
    DeviceBuffer q_prep = ToDevice(q, stream), q_done = ToDevice(q, stream);
    RunVectorSteps(q_done.as<float>(), n * c.heads, c.hd,
                   IndexerQueryVectorSteps(c.hd, c.heads, prep, dpos.as<int32_t>()), stream);
    DeviceBuffer with_prep(scores.bytes()), after_steps(scores.bytes());
    IndexerScoresSequences(q_done.as<float>(), dhw.as<float>(), c.heads, c.hd,
                           drows.as<CompressorRow>(), dpos.as<int32_t>(), n, ratio, longest,
                           after_steps.as<float>(), length, stream, head_scale);
    IndexerScoresSequences(q_prep.as<float>(), dhw.as<float>(), c.heads, c.hd,
                           drows.as<CompressorRow>(), dpos.as<int32_t>(), n, ratio, longest,
                           with_prep.as<float>(), length, stream, head_scale, prep);
    const auto a = ToHost(after_steps, static_cast<size_t>(n * length), stream);
    const auto b = ToHost(with_prep, static_cast<size_t>(n * length), stream);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t e = 0; e < (c.positions[static_cast<size_t>(t)] + 1) / ratio; ++e) {
        const size_t i = static_cast<size_t>(t * length + e);
        ASSERT_EQ(test_support::Bits(b[i]), test_support::Bits(a[i]))
            << c.heads << "x" << c.hd << " with the query steps: row " << t << " score " << e;
      }
    }
  }
}

// IndexerScores with the query's steps in its own launch (IndexerQueryPrep: the decode step's
// RoPE, Hadamard and FP4 per 32 on wq_b's outputs) against RunVectorSteps then IndexerScores: the
// same bits, on V4's shape (the tiled kernel, each CTA on its staged copy: q left as it was) at
// one CTA and several, and on a shape the warp-per-entry kernel takes (the steps on q first).
TEST(CudaForwardOpsTest, IndexerScoresWithQueryPrepGivesVectorStepsThenScoresBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(251);
  struct Shape {
    int64_t heads, hd, rope_dims, entries;
  };
  for (const Shape c : {Shape{64, 128, 64, 40}, Shape{64, 128, 64, 3000}, Shape{24, 64, 32, 77}}) {
    const std::string name = std::to_string(c.heads) + "x" + std::to_string(c.hd) + ", " +
                             std::to_string(c.entries) + " keys";
    const std::vector<float> q = RandomBf16(static_cast<size_t>(c.heads * c.hd), rng, 2.0f);
    const std::vector<uint16_t> keys =
        ToBf16Bits(RandomBf16(static_cast<size_t>(c.entries * c.hd), rng, 1.0f));
    const std::vector<float> hw = RandomBf16(static_cast<size_t>(c.heads), rng, 0.5f);
    std::vector<float> freqs(static_cast<size_t>(c.rope_dims / 2));
    for (size_t i = 0; i < freqs.size(); ++i) {
      freqs[i] = static_cast<float>(std::pow(10000.0, -2.0 * static_cast<double>(i) / c.rope_dims));
    }
    const DeviceBuffer dkeys = ToDevice(keys, stream), dhw = ToDevice(hw, stream),
                       dfreqs = ToDevice(freqs, stream);
    const int64_t pos = 4 * c.entries + 2;
    VectorSteps steps;
    steps.rope_dims = c.rope_dims;
    steps.freqs = dfreqs.as<float>();
    steps.pos = pos;
    steps.hadamard = true;
    steps.quant_n = c.hd;
    steps.quant_block = 32;
    steps.quant_format = ActQuantFormat::kFp4;
    IndexerQueryPrep prep;
    prep.on = true;
    prep.freqs = dfreqs.as<float>();
    prep.rope_dims = c.rope_dims;
    prep.pos = pos;
    const float scale = 0.01f;
    const auto n = static_cast<size_t>(c.entries);
    DeviceBuffer stepped = ToDevice(q, stream), want(n * 4), got(n * 4), plain(n * 4);
    RunVectorSteps(stepped.as<float>(), c.heads, c.hd, steps, stream);
    IndexerScores(stepped.as<float>(), dhw.as<float>(), c.heads, c.hd, dkeys.as<uint16_t>(),
                  c.entries, want.as<float>(), stream, scale);
    DeviceBuffer raw = ToDevice(q, stream);
    IndexerScores(raw.as<float>(), dhw.as<float>(), c.heads, c.hd, dkeys.as<uint16_t>(), c.entries,
                  got.as<float>(), stream, scale, prep);
    const std::vector<float> a = ToHost(want, n, stream), b = ToHost(got, n, stream);
    for (size_t e = 0; e < n; ++e) {
      ASSERT_EQ(test_support::Bits(b[e]), test_support::Bits(a[e])) << name << " key " << e;
    }
    const DeviceBuffer unstepped = ToDevice(q, stream);
    IndexerScores(unstepped.as<float>(), dhw.as<float>(), c.heads, c.hd, dkeys.as<uint16_t>(),
                  c.entries, plain.as<float>(), stream, scale);
    EXPECT_NE(ToHost(plain, n, stream), a) << name << ": the steps change the scores";
    // The tiled kernel (64 heads of 128 staged in 148,480 bytes of shared memory, where the
    // device has them) leaves q as it was; the other kernel's steps ran on q.
    if (c.heads == 64 && DeviceSharedBytesOptIn() >= 148480) {
      EXPECT_EQ(ToHost(raw, q.size(), stream), q) << name << ": q left as it was";
    }
  }
  DeviceBuffer buf(64 * 96 * 4), out(64);
  IndexerQueryPrep odd;
  odd.on = true;
  EXPECT_THROW(IndexerScores(buf.as<float>(), buf.as<float>(), 4, 96, buf.as<uint16_t>(), 1,
                             out.as<float>(), stream, 1.0f, odd),
               CudaError)
      << "96 is no power of two";
}

TEST(CudaForwardOpsTest, IndexerScoresAndTopKMatchTheCpuSelection) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(211);
  // V4's shape (64 heads of 128: the tiled kernel) at three sizes, then one the warp-per-entry
  // kernel takes (heads not a multiple of 16).
  struct Shape {
    int64_t heads, hd, entries;
  };
  for (const Shape shape :
       {Shape{64, 128, 1}, Shape{64, 128, 300}, Shape{64, 128, 5003}, Shape{24, 96, 777}}) {
    const int64_t heads = shape.heads, hd = shape.hd, entries = shape.entries;
    std::vector<float> q = RandomBf16(static_cast<size_t>(heads * hd), rng, 1.0f);
    kernels::cpu::QuantizeFp4Blocks(q.data(), heads * hd, 32);
    std::vector<float> key_values = RandomBf16(static_cast<size_t>(entries * hd), rng, 1.0f);
    kernels::cpu::QuantizeFp4Blocks(key_values.data(), entries * hd, 32);
    const std::vector<uint16_t> keys = ToBf16Bits(key_values);
    const std::vector<float> hw = RandomBf16(static_cast<size_t>(heads), rng, 0.02f);
    std::vector<float> cpu(static_cast<size_t>(entries));
    kernels::cpu::IndexerScores(q.data(), hw.data(), heads, hd, keys.data(), 0, entries,
                                cpu.data());
    const DeviceBuffer dq = ToDevice(q, stream), dhw = ToDevice(hw, stream),
                       dkeys = ToDevice(keys, stream);
    DeviceBuffer dscore(cpu.size() * sizeof(float));
    IndexerScores(dq.as<float>(), dhw.as<float>(), heads, hd, dkeys.as<uint16_t>(), entries,
                  dscore.as<float>(), stream);
    const std::vector<float> gpu = ToHost(dscore, cpu.size(), stream);
    ExpectContract(gpu, cpu,
                   "indexer_scores " + std::to_string(heads) + "x" + std::to_string(hd) +
                       " entries " + std::to_string(entries),
                   true);
    // Top-k of the CPU's scores (bf16 values: many ties) on both sides: the same indices in the
    // same order.
    for (const int64_t k : {512LL, 7LL}) {
      std::vector<int32_t> cpu_top(static_cast<size_t>(std::min(k, entries)));
      kernels::cpu::StableTopK(cpu.data(), entries, k, cpu_top.data());
      const DeviceBuffer dcpu_scores = ToDevice(cpu, stream);
      DeviceBuffer dtop(cpu_top.size() * sizeof(int32_t));
      TopK(dcpu_scores.as<float>(), 1, entries, k, dtop.as<int32_t>(), stream);
      EXPECT_EQ(ToHost<int32_t>(dtop, cpu_top.size(), stream), cpu_top)
          << "topk " << k << " of " << entries;
    }
  }
}

TEST(CudaForwardOpsTest, TopKMatchesTheStableSortOnRowsWithTiesAndInfinities) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(213);
  const int64_t rows = 3, n = 70001, k = 2048;
  std::vector<float> score = RandomBf16(static_cast<size_t>(rows * n), rng, 0.01f);
  for (size_t i = 0; i < score.size(); i += 13) score[i] = (i % 2) ? -0.0f : 0.0f;
  for (size_t i = 3; i < score.size(); i += 101) score[i] = -std::numeric_limits<float>::infinity();
  std::vector<int32_t> cpu;
  for (int64_t t = 0; t < rows; ++t) {
    std::vector<int32_t> top(static_cast<size_t>(std::min(k, n)));
    kernels::cpu::StableTopK(score.data() + t * n, n, k, top.data());
    cpu.insert(cpu.end(), top.begin(), top.end());
  }
  const DeviceBuffer dscore = ToDevice(score, stream);
  DeviceBuffer dtop(cpu.size() * sizeof(int32_t));
  TopK(dscore.as<float>(), rows, n, k, dtop.as<int32_t>(), stream);
  EXPECT_EQ(ToHost<int32_t>(dtop, cpu.size(), stream), cpu);
  // With an index offset (a decode step's selection written into the attention's index list).
  TopK(dscore.as<float>(), rows, n, k, dtop.as<int32_t>(), stream, nullptr, 0, 128);
  std::vector<int32_t> shifted = cpu;
  for (int32_t& i : shifted) i += 128;
  EXPECT_EQ(ToHost<int32_t>(dtop, cpu.size(), stream), shifted);
}

// The passes' counting adds a thread's run of keys of one bucket at once, and a warp's runs at
// once when they end on one bucket; the passes stop once the keys they could still pick fit in
// the sort. Rows that take each way: every score equal (each warp on one bucket in every pass,
// settled in the index bytes), scores stepping every 48 keys (a thread's keys change bucket at
// every one, a warp's lanes mostly share theirs), a few high scores over a sea of zeros (the
// k-th score tied by thousands), and the indexer's bf16 ties (stopped after the score's bytes).
// Each row by the CTA gives the stable sort's selection, also when it is a batched step's row.
TEST(CudaForwardOpsTest, TopKCountsRunsAndStopsOnceItsCandidatesFitTheSort) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(223);
  const int64_t rows = 4, n = 16384, k = 512;
  std::vector<float> score(static_cast<size_t>(rows * n), 0.5f);
  float* stepping = score.data() + n;
  for (int64_t i = 0; i < n; ++i)
    stepping[i] = forward::RoundBf16(static_cast<float>(i / 48) * 0.37f);
  float* sea = score.data() + 2 * n;
  for (int64_t i = 0; i < n; ++i) sea[i] = i % 97 == 5 ? 2.0f : (i % 7 == 0 ? 1.0f : 0.0f);
  const std::vector<float> ties = RandomBf16(static_cast<size_t>(n), rng, 0.01f);
  std::copy(ties.begin(), ties.end(), score.begin() + 3 * n);
  std::vector<int32_t> cpu;
  for (int64_t t = 0; t < rows; ++t) {
    std::vector<int32_t> top(static_cast<size_t>(k));
    kernels::cpu::StableTopK(score.data() + t * n, n, k, top.data());
    cpu.insert(cpu.end(), top.begin(), top.end());
  }
  const DeviceBuffer dscore = ToDevice(score, stream);
  DeviceBuffer dtop(cpu.size() * sizeof(int32_t));
  TopK(dscore.as<float>(), rows, n, k, dtop.as<int32_t>(), stream);
  const std::vector<int32_t> got = ToHost<int32_t>(dtop, cpu.size(), stream);
  for (int64_t t = 0; t < rows; ++t) {
    EXPECT_TRUE(std::equal(cpu.begin() + t * k, cpu.begin() + (t + 1) * k, got.begin() + t * k))
        << "row " << t;
  }
  // As a batched step's rows (TopKSequences: each row's own scores, here all n of them).
  const std::vector<int32_t> positions(static_cast<size_t>(rows), static_cast<int32_t>(4 * n - 1));
  const DeviceBuffer dpositions = ToDevice(positions, stream);
  TopKSequences(dscore.as<float>(), rows, n, k, dpositions.as<int32_t>(), 4, dtop.as<int32_t>(), k,
                stream);
  EXPECT_EQ(ToHost<int32_t>(dtop, cpu.size(), stream), cpu);
}

// One long row with a scratch (a decode step's selection at a long context) is counted by many
// CTAs: the stable sort's selection and order, as one CTA gives it, with ties, infinities, rows
// whose selection settles only in the index bytes (every score equal), k = 1 and k = 4096, and a
// scratch too small refused. The same scratch serves call after call.
TEST(CudaForwardOpsTest, TopKOverALongRowByManyCtasGivesTheStableSelection) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(219);
  DeviceBuffer scratch(static_cast<size_t>(TopKScratchBytes(4096)));
  struct Case {
    int64_t n, k;
    bool all_equal;
  };
  for (const Case c : {Case{65536, 512, false}, Case{300007, 512, false}, Case{70001, 4096, false},
                       Case{131072, 1, false}, Case{100000, 300, true}}) {
    std::vector<float> score = RandomBf16(static_cast<size_t>(c.n), rng, 0.01f);
    if (c.all_equal) std::fill(score.begin(), score.end(), 0.5f);
    for (size_t i = 0; i < score.size(); i += 13) score[i] = (i % 2) ? -0.0f : 0.0f;
    for (size_t i = 3; i < score.size(); i += 101) {
      score[i] = -std::numeric_limits<float>::infinity();
    }
    score[static_cast<size_t>(c.n / 2)] = std::numeric_limits<float>::infinity();
    std::vector<int32_t> cpu(static_cast<size_t>(c.k));
    kernels::cpu::StableTopK(score.data(), c.n, c.k, cpu.data());
    const DeviceBuffer dscore = ToDevice(score, stream);
    DeviceBuffer wide(cpu.size() * sizeof(int32_t)), one(cpu.size() * sizeof(int32_t));
    TopK(dscore.as<float>(), 1, c.n, c.k, wide.as<int32_t>(), stream, scratch.data(),
         static_cast<int64_t>(scratch.bytes()));
    TopK(dscore.as<float>(), 1, c.n, c.k, one.as<int32_t>(), stream);
    EXPECT_EQ(ToHost<int32_t>(wide, cpu.size(), stream), cpu) << c.n << " scores, k " << c.k;
    EXPECT_EQ(ToHost<int32_t>(one, cpu.size(), stream), cpu) << c.n << " scores, k " << c.k;
    TopK(dscore.as<float>(), 1, c.n, c.k, wide.as<int32_t>(), stream, scratch.data(),
         static_cast<int64_t>(scratch.bytes()), 128);
    std::vector<int32_t> shifted = cpu;
    for (int32_t& i : shifted) i += 128;
    EXPECT_EQ(ToHost<int32_t>(wide, cpu.size(), stream), shifted) << c.n << " scores, offset";
  }
  const DeviceBuffer dscore = ToDevice(std::vector<float>(70000, 1.0f), stream);
  DeviceBuffer out(512 * sizeof(int32_t));
  EXPECT_THROW(TopK(dscore.as<float>(), 1, 70000, 512, out.as<int32_t>(), stream, scratch.data(),
                    TopKScratchBytes(512) - 1),
               CudaError);
}

TEST(CudaForwardOpsTest, MoeRouteMatchesTheCpuRouter) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(217);
  const int64_t rows = 37, n = 256, k = 6, vocab = 1000;
  std::vector<float> logits = RandomBf16(static_cast<size_t>(rows * n), rng, 2.0f);
  std::vector<float> bias(static_cast<size_t>(n));
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = static_cast<float>(i % 3) * 0.25f;
  for (int64_t t = 0; t < rows; ++t) {
    logits[static_cast<size_t>(t * n + 200)] = logits[static_cast<size_t>(t * n + 17)];  // a tie
  }
  std::vector<int32_t> table(static_cast<size_t>(vocab * k)), tokens(static_cast<size_t>(rows));
  std::uniform_int_distribution<int32_t> expert(0, n - 1), token(0, vocab - 1);
  for (int32_t& id : table) id = expert(rng);
  for (int32_t& t : tokens) t = token(rng);
  std::vector<int32_t> hash_ids;
  for (const int32_t t : tokens) {
    hash_ids.insert(hash_ids.end(), table.begin() + t * k, table.begin() + (t + 1) * k);
  }
  const DeviceBuffer dlogits = ToDevice(logits, stream), dbias = ToDevice(bias, stream),
                     dtable = ToDevice(table, stream), dtokens = ToDevice(tokens, stream);
  DeviceBuffer dids(static_cast<size_t>(rows * k) * sizeof(int32_t)),
      dweights(static_cast<size_t>(rows * k) * sizeof(float));
  const struct {
    forward::ScoreFunc cpu;
    RouteScoreFunc gpu;
  } funcs[] = {{forward::ScoreFunc::kSqrtSoftplus, RouteScoreFunc::kSqrtSoftplus},
               {forward::ScoreFunc::kSigmoid, RouteScoreFunc::kSigmoid},
               {forward::ScoreFunc::kSoftmax, RouteScoreFunc::kSoftmax}};
  for (const auto& f : funcs) {
    for (const bool hash : {false, true}) {
      forward::RouterShape shape;
      shape.experts = n;
      shape.k = k;
      shape.func = f.cpu;
      shape.route_scale = 1.5f;
      std::vector<float> scores = logits;
      std::vector<int32_t> cpu_ids(static_cast<size_t>(rows * k));
      std::vector<float> cpu_weights(cpu_ids.size());
      kernels::cpu::RouteFromScores(scores.data(), rows, shape, hash ? nullptr : bias.data(),
                                    hash ? hash_ids.data() : nullptr, cpu_ids.data(),
                                    cpu_weights.data());
      MoeRouteShape gshape;
      gshape.experts = n;
      gshape.k = k;
      gshape.func = f.gpu;
      gshape.route_scale = 1.5f;
      MoeRoute(dlogits.as<float>(), rows, gshape, hash ? nullptr : dbias.as<float>(),
               hash ? dtable.as<int32_t>() : nullptr, hash ? dtokens.as<int32_t>() : nullptr,
               dids.as<int32_t>(), dweights.as<float>(), stream);
      const std::string name =
          "moe_route func " + std::to_string(static_cast<int>(f.gpu)) + (hash ? " hash" : "");
      EXPECT_EQ(ToHost<int32_t>(dids, cpu_ids.size(), stream), cpu_ids) << name;
      ExpectContract(ToHost(dweights, cpu_weights.size(), stream), cpu_weights, name, false);
      // The paired ids (the MoE decode's w3 entries, after w1's in its view table): the same
      // ids plus the offset, the ids themselves unchanged.
      DeviceBuffer dpaired(cpu_ids.size() * sizeof(int32_t));
      MoeRoute(dlogits.as<float>(), rows, gshape, hash ? nullptr : dbias.as<float>(),
               hash ? dtable.as<int32_t>() : nullptr, hash ? dtokens.as<int32_t>() : nullptr,
               dids.as<int32_t>(), dweights.as<float>(), stream, dpaired.as<int32_t>(),
               static_cast<int32_t>(n));
      std::vector<int32_t> paired = cpu_ids;
      for (int32_t& id : paired) id += static_cast<int32_t>(n);
      EXPECT_EQ(ToHost<int32_t>(dids, cpu_ids.size(), stream), cpu_ids) << name << " paired";
      EXPECT_EQ(ToHost<int32_t>(dpaired, paired.size(), stream), paired) << name << " paired";
    }
  }
  EXPECT_THROW(MoeRoute(dlogits.as<float>(), rows, MoeRouteShape{n, 17}, dbias.as<float>(), nullptr,
                        nullptr, dids.as<int32_t>(), dweights.as<float>(), stream),
               CudaError);
}

// GateAndRoute (the gate's exact products and the router in one launch, the last CTA of a row
// routing it) against MatVecExact then MoeRoute: the same logits, ids, paired ids and weights bit
// for bit, for CTAs of 32, 256 and 512 threads, hash and biased layers, every score function, and
// rows read at a stride. Called twice in a row: the counts it leaves are zero, so the second call
// (a graph's replay, the next layer's) routes as the first. The second groups the slots by expert
// as well (RouteGrouping, the last row's routing CTA): GroupExpertSlots' order, pieces and count.
TEST(CudaForwardOpsTest, GateAndRouteGivesMatVecExactThenMoeRouteBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(219);
  const int64_t rows = 3, vocab = 100;
  const struct {
    int64_t experts, k, cols;
    WeightFormat format;
    RouteScoreFunc func;
    bool hash;
  } cases[] = {{256, 6, 4096, WeightFormat::kBF16, RouteScoreFunc::kSqrtSoftplus, false},
               {256, 6, 4096, WeightFormat::kBF16, RouteScoreFunc::kSqrtSoftplus, true},
               {6, 3, 128, WeightFormat::kF32, RouteScoreFunc::kSoftmax, false},
               {48, 4, 8192, WeightFormat::kBF16, RouteScoreFunc::kSigmoid, true}};
  for (const auto& c : cases) {
    const std::string name = std::to_string(c.experts) + " experts of " + std::to_string(c.cols) +
                             (c.hash ? " hash" : " biased") + " func " +
                             std::to_string(static_cast<int>(c.func));
    const int64_t x_stride = c.cols + 64;
    const std::vector<float> x = RandomBf16(static_cast<size_t>(rows * x_stride), rng, 1.0f);
    auto gate = kernels::testing::MakeWeight(c.format, c.experts, c.cols, rng);
    std::vector<float> bias(static_cast<size_t>(c.experts));
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = static_cast<float>(i % 5) * 0.01f;
    std::vector<int32_t> table(static_cast<size_t>(vocab * c.k)), tokens(static_cast<size_t>(rows));
    std::uniform_int_distribution<int32_t> expert(0, static_cast<int32_t>(c.experts) - 1),
        token(0, vocab - 1);
    for (int32_t& id : table) id = expert(rng);
    for (int32_t& t : tokens) t = token(rng);
    const DeviceWeight dgate = DeviceWeight::Upload(gate.matrix.rows_view(), c.experts, stream);
    const DeviceBuffer dx = ToDevice(x, stream), dbias = ToDevice(bias, stream),
                       dtable = ToDevice(table, stream), dtokens = ToDevice(tokens, stream);
    const size_t slots = static_cast<size_t>(rows * c.k);
    DeviceBuffer want_logits(static_cast<size_t>(rows * c.experts) * sizeof(float)),
        got_logits(static_cast<size_t>(rows * c.experts) * sizeof(float)),
        want_ids(2 * slots * sizeof(int32_t)), got_ids(2 * slots * sizeof(int32_t)),
        want_weights(slots * sizeof(float)), got_weights(slots * sizeof(float)),
        arrivals(static_cast<size_t>(rows) * sizeof(unsigned));
    arrivals.Zero(stream);
    MoeRouteShape shape;
    shape.experts = c.experts;
    shape.k = c.k;
    shape.func = c.func;
    shape.route_scale = 1.5f;
    const float* b = c.hash ? nullptr : dbias.as<float>();
    const int32_t* tb = c.hash ? dtable.as<int32_t>() : nullptr;
    const int32_t* tk = c.hash ? dtokens.as<int32_t>() : nullptr;
    const auto offset = static_cast<int32_t>(c.experts);
    MatVecExact(dgate, dx.as<float>(), rows, x_stride, want_logits.as<float>(), c.experts, false,
                stream);
    MoeRoute(want_logits.as<float>(), rows, shape, b, tb, tk, want_ids.as<int32_t>(),
             want_weights.as<float>(), stream, want_ids.as<int32_t>() + slots, offset);
    const auto logits_want = ToHost(want_logits, static_cast<size_t>(rows * c.experts), stream);
    const auto ids_want = ToHost<int32_t>(want_ids, 2 * slots, stream);
    const auto weights_want = ToHost(want_weights, slots, stream);
    ExpertGroups want_groups = ExpertGroups::Create(32), got_groups = ExpertGroups::Create(32);
    GroupExpertSlots(want_ids.as<int32_t>(), static_cast<int64_t>(slots), want_groups, stream);
    DeviceBuffer group_arrivals(sizeof(unsigned));
    group_arrivals.Zero(stream);
    const RouteGrouping grouping{&got_groups, group_arrivals.as<unsigned>()};
    for (int call = 0; call < 2; ++call) {
      got_logits.Zero(stream);
      got_ids.Zero(stream);
      got_weights.Zero(stream);
      GateAndRoute(dgate, dx.as<float>(), rows, x_stride, got_logits.as<float>(), shape, b, tb, tk,
                   got_ids.as<int32_t>(), got_weights.as<float>(), arrivals.as<unsigned>(), stream,
                   got_ids.as<int32_t>() + slots, offset, call == 1 ? &grouping : nullptr);
      const std::string what = name + (call == 0 ? ", first call" : ", second call, grouped");
      const auto logits = ToHost(got_logits, logits_want.size(), stream);
      for (size_t i = 0; i < logits.size(); ++i) {
        ASSERT_EQ(test_support::Bits(logits[i]), test_support::Bits(logits_want[i]))
            << what << " logit " << i;
      }
      EXPECT_EQ(ToHost<int32_t>(got_ids, 2 * slots, stream), ids_want) << what;
      const auto weights = ToHost(got_weights, slots, stream);
      for (size_t i = 0; i < slots; ++i) {
        ASSERT_EQ(test_support::Bits(weights[i]), test_support::Bits(weights_want[i]))
            << what << " weight " << i;
      }
      ExpectCountsAtZero(arrivals, rows, what, stream);
    }
    EXPECT_EQ(ToHost<int32_t>(got_groups.order, slots, stream),
              ToHost<int32_t>(want_groups.order, slots, stream))
        << name;
    const auto count = ToHost<int32_t>(want_groups.count, 1, stream);
    EXPECT_EQ(ToHost<int32_t>(got_groups.count, 1, stream), count) << name;
    const size_t piece_words = static_cast<size_t>(3 * count[0]);
    EXPECT_EQ(ToHost<int32_t>(got_groups.pieces, piece_words, stream),
              ToHost<int32_t>(want_groups.pieces, piece_words, stream))
        << name;
    ExpectCountsAtZero(group_arrivals, 1, name + ", grouped", stream);
  }
  // A gate whose rows are not the experts: refused before any launch.
  auto gate = kernels::testing::MakeWeight(WeightFormat::kBF16, 8, 128, rng);
  const DeviceWeight dgate = DeviceWeight::Upload(gate.matrix.rows_view(), 8, stream);
  DeviceBuffer buf(4096);
  EXPECT_THROW(GateAndRoute(dgate, buf.as<float>(), 1, 128, buf.as<float>(), MoeRouteShape{16, 2},
                            buf.as<float>(), nullptr, nullptr, buf.as<int32_t>(), buf.as<float>(),
                            buf.as<unsigned>(), stream),
               CudaError);
  // More slots to group than the grouping holds: refused too.
  ExpertGroups small = ExpertGroups::Create(4);
  const RouteGrouping too_small{&small, buf.as<unsigned>()};
  EXPECT_THROW(GateAndRoute(dgate, buf.as<float>(), 3, 128, buf.as<float>(), MoeRouteShape{8, 2},
                            buf.as<float>(), nullptr, nullptr, buf.as<int32_t>(), buf.as<float>(),
                            buf.as<unsigned>(), stream, nullptr, 0, &too_small),
               CudaError);
}

TEST(CudaForwardOpsTest, MoeCombineMatchesTheCpu) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(219);
  const int64_t rows = 5, k = 6, dim = 4099;
  const std::vector<float> routed = RandomBf16(static_cast<size_t>(rows * k * dim), rng, 1.0f);
  const std::vector<float> shared = RandomBf16(static_cast<size_t>(rows * dim), rng, 1.0f);
  std::vector<int32_t> ids(static_cast<size_t>(rows * k));
  std::uniform_int_distribution<int32_t> expert(0, 9);  // few experts: repeats within rows
  for (int32_t& id : ids) id = expert(rng);
  std::vector<float> cpu(shared.size());
  kernels::cpu::CombineExperts(routed.data(), shared.data(), ids.data(), rows, k, dim, cpu.data());
  const DeviceBuffer drouted = ToDevice(routed, stream), dids = ToDevice(ids, stream);
  DeviceBuffer dshared = ToDevice(shared, stream);
  // In place on the shared expert's output.
  MoeCombine(drouted.as<float>(), dshared.as<float>(), dids.as<int32_t>(), rows, k, dim,
             dshared.as<float>(), stream);
  ExpectContract(ToHost(dshared, cpu.size(), stream), cpu, "moe_combine", true);
}

// MoeCombine with HcPost in its launch (the MoE's decode into the residual streams) against
// MoeCombine then HcPost: the same bits, the combine's output and the streams (in place, as the
// block runs it).
TEST(CudaForwardOpsTest, MoeCombineThenPostGivesCombineThenHcPostBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(239);
  const int64_t rows = 2, k = 6, dim = 1000, hc = 4;
  std::vector<int32_t> ids(static_cast<size_t>(rows * k));
  std::uniform_int_distribution<int32_t> expert(0, 9);
  for (int32_t& id : ids) id = expert(rng);
  const DeviceBuffer drouted =
      ToDevice(RandomBf16(static_cast<size_t>(rows * k * dim), rng, 1.0f), stream);
  const DeviceBuffer dshared =
      ToDevice(RandomBf16(static_cast<size_t>(rows * dim), rng, 1.0f), stream);
  const DeviceBuffer dids = ToDevice(ids, stream);
  const DeviceBuffer dpost =
      ToDevice(RandomBf16(static_cast<size_t>(rows * hc), rng, 1.0f), stream);
  const DeviceBuffer dcomb =
      ToDevice(RandomBf16(static_cast<size_t>(rows * hc * hc), rng, 0.5f), stream);
  const std::vector<float> h = RandomBf16(static_cast<size_t>(rows * hc * dim), rng, 1.0f);
  HcKernelShape s;
  s.hc = hc;
  s.dim = dim;
  DeviceBuffer h_apart = ToDevice(h, stream), h_fused = ToDevice(h, stream);
  DeviceBuffer f_apart(static_cast<size_t>(rows * dim) * 4), f_fused(f_apart.bytes());
  MoeCombine(drouted.as<float>(), dshared.as<float>(), dids.as<int32_t>(), rows, k, dim,
             f_apart.as<float>(), stream);
  HcPost(f_apart.as<float>(), h_apart.as<float>(), dpost.as<float>(), dcomb.as<float>(), rows, s,
         h_apart.as<float>(), stream);
  const HcPostArgs post{h_fused.as<float>(), dpost.as<float>(), dcomb.as<float>(), s,
                        h_fused.as<float>()};
  MoeCombine(drouted.as<float>(), dshared.as<float>(), dids.as<int32_t>(), rows, k, dim,
             f_fused.as<float>(), stream, &post);
  for (const auto& [want, got, what] :
       {std::tuple{&f_apart, &f_fused, "combine"}, std::tuple{&h_apart, &h_fused, "streams"}}) {
    const size_t n = want->bytes() / 4;
    const std::vector<float> a = ToHost(*want, n, stream), b = ToHost(*got, n, stream);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(test_support::Bits(b[i]), test_support::Bits(a[i])) << what << " " << i;
    }
  }
  EXPECT_NE(ToHost(h_fused, h.size(), stream), h);
  HcPostArgs wrong = post;
  wrong.shape.dim = dim + 1;
  EXPECT_THROW(MoeCombine(drouted.as<float>(), dshared.as<float>(), dids.as<int32_t>(), rows, k,
                          dim, f_fused.as<float>(), stream, &wrong),
               CudaError);
}

TEST(CudaForwardOpsTest, HcPreAndHcPostMatchTheCpu) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(223);
  forward::HcShape s;
  s.hc = 4;
  s.dim = 4096;
  const int64_t rows = 7, m = (2 + s.hc) * s.hc, n = s.hc * s.dim;
  const std::vector<float> h = RandomBf16(static_cast<size_t>(rows * n), rng, 1.0f);
  const std::vector<float> products = RandomBf16(static_cast<size_t>(rows * m), rng, 30.0f);
  const std::vector<float> scale = {0.5f, 0.25f, 1.5f};
  const std::vector<float> base = RandomBf16(static_cast<size_t>(m), rng, 1.0f);
  const std::vector<float> f = RandomBf16(static_cast<size_t>(rows * s.dim), rng, 1.0f);
  // CPU: HcPre after its fn product, then HcPost with its post and comb.
  std::vector<float> mixes = products, cpu_y(static_cast<size_t>(rows * s.dim)),
                     cpu_post(static_cast<size_t>(rows * s.hc)),
                     cpu_comb(static_cast<size_t>(rows * s.hc * s.hc)), pre(4);
  kernels::cpu::ScaleMixes(h.data(), rows, m, s, mixes.data());
  for (int64_t t = 0; t < rows; ++t) {
    kernels::cpu::SinkhornSplit(mixes.data() + t * m, scale.data(), base.data(), s, pre.data(),
                                cpu_post.data() + t * s.hc, cpu_comb.data() + t * s.hc * s.hc);
    kernels::cpu::WeightedStreamSum(h.data() + t * n, pre.data(), s, cpu_y.data() + t * s.dim);
  }
  std::vector<float> cpu_out(h.size());
  kernels::cpu::HcPost(f.data(), h.data(), cpu_post.data(), cpu_comb.data(), rows, s,
                       cpu_out.data());

  HcKernelShape gs;
  gs.hc = s.hc;
  gs.dim = s.dim;
  gs.sinkhorn_iters = s.sinkhorn_iters;
  gs.hc_eps = s.hc_eps;
  gs.norm_eps = s.norm_eps;
  DeviceBuffer dh = ToDevice(h, stream);
  const DeviceBuffer dproducts = ToDevice(products, stream), dscale = ToDevice(scale, stream),
                     dbase = ToDevice(base, stream), df = ToDevice(f, stream);
  DeviceBuffer dy(cpu_y.size() * sizeof(float)), dpost(cpu_post.size() * sizeof(float)),
      dcomb(cpu_comb.size() * sizeof(float));
  HcPre(dh.as<float>(), dproducts.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
        dy.as<float>(), dpost.as<float>(), dcomb.as<float>(), stream);
  ExpectContract(ToHost(dy, cpu_y.size(), stream), cpu_y, "hc_pre y", true);
  ExpectContract(ToHost(dpost, cpu_post.size(), stream), cpu_post, "hc_pre post", false);
  ExpectContract(ToHost(dcomb, cpu_comb.size(), stream), cpu_comb, "hc_pre comb", false);
  // HcPost from the CPU's post and comb (so a last-bit difference above does not carry over),
  // in place on h.
  const DeviceBuffer cpu_dpost = ToDevice(cpu_post, stream), cpu_dcomb = ToDevice(cpu_comb, stream);
  HcPost(df.as<float>(), dh.as<float>(), cpu_dpost.as<float>(), cpu_dcomb.as<float>(), rows, gs,
         dh.as<float>(), stream);
  ExpectContract(ToHost(dh, h.size(), stream), cpu_out, "hc_post", true);
}

// HcPreNorm (a sub-layer's input: HcPre then RmsNorm of y in one launch, and y's FP8 act_quant)
// against the three ops one after the other on the device: the same bits, post and comb too.
TEST(CudaForwardOpsTest, HcPreNormGivesHcPreThenRmsNormBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(227);
  const int64_t rows = 5;
  const HcPreInputs in = MakeHcPreInputs(4, 4096, rows, rng, stream);
  const HcKernelShape& gs = in.shape;
  const DeviceBuffer &dh = in.h, &dproducts = in.products, &dscale = in.scale, &dbase = in.base;
  std::vector<float> w = RandomBf16(static_cast<size_t>(gs.dim), rng, 0.1f);
  for (float& v : w) v = forward::RoundBf16(1.0f + v);
  const DeviceBuffer dw = ToDevice(w, stream);
  const size_t ys = static_cast<size_t>(rows * gs.dim), ps = static_cast<size_t>(rows * gs.hc),
               cs = static_cast<size_t>(rows * gs.hc * gs.hc);
  DeviceBuffer y1(ys * 4), post1(ps * 4), comb1(cs * 4), q1(ys * 4), y2(ys * 4), post2(ps * 4),
      comb2(cs * 4), q2(ys * 4), y3(ys * 4), post3(ps * 4), comb3(cs * 4);
  HcPre(dh.as<float>(), dproducts.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
        y1.as<float>(), post1.as<float>(), comb1.as<float>(), stream);
  RmsNorm(y1.as<float>(), rows, gs.dim, dw.as<float>(), 1e-6f, y1.as<float>(), stream);
  ActQuantTo(y1.as<float>(), q1.as<float>(), rows, gs.dim, 128, ActQuantFormat::kFp8, stream);
  HcPreNorm(dh.as<float>(), dproducts.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
            dw.as<float>(), 1e-6f, y2.as<float>(), post2.as<float>(), comb2.as<float>(), stream,
            q2.as<float>());
  // Without the FP8 copy: the same y, post and comb.
  HcPreNorm(dh.as<float>(), dproducts.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
            dw.as<float>(), 1e-6f, y3.as<float>(), post3.as<float>(), comb3.as<float>(), stream);
  // The quantisation must have rounded something (else comparing copies of y would pass).
  const std::vector<float> yq = ToHost(q1, ys, stream), yv = ToHost(y1, ys, stream);
  ASSERT_NE(yq, yv);
  ExpectSameBits({{&y1, &y2, "y"},
                  {&post1, &post2, "post"},
                  {&comb1, &comb2, "comb"},
                  {&q1, &q2, "y_fp8"},
                  {&y1, &y3, "y (no FP8 copy)"},
                  {&post1, &post3, "post (no FP8 copy)"},
                  {&comb1, &comb3, "comb (no FP8 copy)"}},
                 "HcPreNorm", stream);
}

// HcPreNorm with comb left to HcComb against HcPreNorm computing it: y, post and the FP8 copy the
// same bits, comb untouched by the launch and then HcComb's the same bits, for 4 streams (a warp's
// Sinkhorn) and 6 (36 comb elements: one thread's), several rows; an HcComb of a bad shape refused.
TEST(CudaForwardOpsTest, HcCombAfterAHcPreNormThatLeftItGivesItsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(233);
  for (const int64_t hc : {int64_t{4}, int64_t{6}}) {
    const int64_t rows = 3;
    const HcPreInputs in = MakeHcPreInputs(hc, 256, rows, rng, stream);
    const HcKernelShape& gs = in.shape;
    const DeviceBuffer &dh = in.h, &dproducts = in.products, &dscale = in.scale, &dbase = in.base;
    const DeviceBuffer dw = ToDevice(std::vector<float>(static_cast<size_t>(gs.dim), 1.0f), stream);
    const size_t ys = static_cast<size_t>(rows * gs.dim), ps = static_cast<size_t>(rows * gs.hc),
                 cs = static_cast<size_t>(rows * gs.hc * gs.hc);
    DeviceBuffer y1(ys * 4), post1(ps * 4), comb1(cs * 4), q1(ys * 4), y2(ys * 4), post2(ps * 4),
        comb2(cs * 4), q2(ys * 4), rms(static_cast<size_t>(rows) * 4);
    comb2.Zero(stream);
    HcPreNorm(dh.as<float>(), dproducts.as<float>(), rows, dscale.as<float>(), dbase.as<float>(),
              gs, dw.as<float>(), 1e-6f, y1.as<float>(), post1.as<float>(), comb1.as<float>(),
              stream, q1.as<float>());
    HcPreNorm(dh.as<float>(), dproducts.as<float>(), rows, dscale.as<float>(), dbase.as<float>(),
              gs, dw.as<float>(), 1e-6f, y2.as<float>(), post2.as<float>(), comb2.as<float>(),
              stream, q2.as<float>(), rms.as<float>());
    const std::string name = std::to_string(hc) + " streams";
    ASSERT_EQ(ToHost(comb2, cs, stream), std::vector<float>(cs, 0.0f)) << name << ": comb written";
    HcComb(dproducts.as<float>(), rms.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
           comb2.as<float>(), stream);
    ASSERT_NE(ToHost(comb1, cs, stream), std::vector<float>(cs, 0.0f)) << name;
    ExpectSameBits(
        {{&y1, &y2, "y"}, {&post1, &post2, "post"}, {&q1, &q2, "y_fp8"}, {&comb1, &comb2, "comb"}},
        name, stream);
  }
  HcKernelShape bad;
  bad.hc = 9;
  bad.dim = 256;
  DeviceBuffer buf(4096);
  EXPECT_THROW(HcComb(buf.as<float>(), buf.as<float>(), 1, buf.as<float>(), buf.as<float>(), bad,
                      buf.as<float>(), stream),
               CudaError);
}

// HcFnPreNorm (the fn product and HcPreNorm in one launch, the last CTA of a row running the
// mixing) against MatVecExact then HcPreNorm: the same products, y, post, comb and FP8 copy bit
// for bit, with the last CTA of 1,024 threads (Flash's 4 x 4096 streams) and of 32 (4 x 128,
// the tiny checkpoints'), with and without the FP8 copy, and with comb left to HcComb (comb
// untouched by the launch, then HcComb's the same bits). Called again and again: the counts it
// leaves are zero, so each call gives the first's bits.
TEST(CudaForwardOpsTest, HcFnPreNormGivesMatVecExactThenHcPreNormBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(229);
  for (const int64_t dim : {int64_t{4096}, int64_t{128}}) {
    const HcFnWeights hw = MakeHcFnWeights(dim, rng, stream);
    const HcKernelShape& gs = hw.shape;
    const DeviceWeight& dfn = hw.fn;
    const DeviceBuffer &dscale = hw.scale, &dbase = hw.base, &dw = hw.norm;
    const int64_t rows = 3, m = (2 + gs.hc) * gs.hc, n = gs.hc * gs.dim;
    const DeviceBuffer dh = ToDevice(RandomBf16(static_cast<size_t>(rows * n), rng, 1.0f), stream);
    const size_t ms = static_cast<size_t>(rows * m), ys = static_cast<size_t>(rows * gs.dim),
                 ps = static_cast<size_t>(rows * gs.hc), cs = static_cast<size_t>(ps * gs.hc);
    DeviceBuffer p1(ms * 4), y1(ys * 4), post1(ps * 4), comb1(cs * 4), q1(ys * 4), p2(ms * 4),
        y2(ys * 4), post2(ps * 4), comb2(cs * 4), q2(ys * 4), arrivals(rows * sizeof(unsigned));
    arrivals.Zero(stream);
    MatVecExact(dfn, dh.as<float>(), rows, n, p1.as<float>(), m, false, stream);
    HcPreNorm(dh.as<float>(), p1.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
              dw.as<float>(), 1e-6f, y1.as<float>(), post1.as<float>(), comb1.as<float>(), stream,
              q1.as<float>());
    DeviceBuffer rms(static_cast<size_t>(rows) * 4);
    for (int call = 0; call < 5; ++call) {
      // Calls 3 and 4: comb left to HcComb (fused steps on, then off: HcPreNorm's launch).
      const bool fp8 = call != 1, defer = call >= 3;
      for (DeviceBuffer* b : {&p2, &y2, &post2, &comb2, &q2}) b->Zero(stream);
      SetFusedSteps(call != 4);
      HcFnPreNorm(dfn, dh.as<float>(), rows, p2.as<float>(), dscale.as<float>(), dbase.as<float>(),
                  gs, dw.as<float>(), 1e-6f, y2.as<float>(), post2.as<float>(), comb2.as<float>(),
                  arrivals.as<unsigned>(), stream, fp8 ? q2.as<float>() : nullptr,
                  defer ? rms.as<float>() : nullptr);
      SetFusedSteps(true);
      if (defer) {
        ASSERT_EQ(ToHost(comb2, cs, stream), std::vector<float>(cs, 0.0f)) << "comb written";
        HcComb(p2.as<float>(), rms.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
               comb2.as<float>(), stream);
      }
      std::vector<BufferPair> pairs = {{&p1, &p2, "products"},
                                       {&y1, &y2, "y"},
                                       {&post1, &post2, "post"},
                                       {&comb1, &comb2, "comb"}};
      if (fp8) pairs.push_back({&q1, &q2, "y_fp8"});
      ExpectSameBits(pairs, "dim " + std::to_string(dim) + " call " + std::to_string(call), stream);
      ExpectCountsAtZero(arrivals, rows, "dim " + std::to_string(dim), stream);
    }
  }
  // An fn that is not (2 + hc) * hc by hc * dim: refused before any launch.
  const HcKernelShape gs = BadFnShape();
  const DeviceWeight dfn = BadHcFn(rng, stream);
  DeviceBuffer buf(8192);
  EXPECT_THROW(HcFnPreNorm(dfn, buf.as<float>(), 1, buf.as<float>(), buf.as<float>(),
                           buf.as<float>(), gs, buf.as<float>(), 1e-6f, buf.as<float>(),
                           buf.as<float>(), buf.as<float>(), buf.as<unsigned>(), stream),
               CudaError);
}

// HcPostFnPreNorm (the attention's HcPost and the FFN's fn product and HcPreNorm in one launch:
// each CTA computes the row's new streams in shared memory, the last writes them to h) against
// HcPost then HcFnPreNorm: the same h, products, y, post, comb and FP8 copy bit for bit, with
// Flash's 4 x 4096 streams (1,024 threads) and the tiny checkpoints' 4 x 128 (32), with the fused
// steps off too, and with comb left to HcComb (the HcPost's comb untouched by the launch); called
// again and again (the counts are left at zero).
TEST(CudaForwardOpsTest, HcPostFnPreNormGivesHcPostThenHcFnPreNormBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(241);
  for (const int64_t dim : {int64_t{4096}, int64_t{128}}) {
    const HcFnWeights hw = MakeHcFnWeights(dim, rng, stream);
    const HcKernelShape& gs = hw.shape;
    const DeviceWeight& dfn = hw.fn;
    const DeviceBuffer &dscale = hw.scale, &dbase = hw.base, &dw = hw.norm;
    const int64_t rows = 3, m = (2 + gs.hc) * gs.hc, n = gs.hc * gs.dim;
    const std::vector<float> h = RandomBf16(static_cast<size_t>(rows * n), rng, 1.0f);
    const std::vector<float> f = RandomBf16(static_cast<size_t>(rows * dim), rng, 1.0f);
    const auto [post, comb] = RandomPostAndComb(rows, gs.hc, rng);  // the sub-layer before's
    const DeviceBuffer df = ToDevice(f, stream);
    const size_t ms = static_cast<size_t>(rows * m), ys = static_cast<size_t>(rows * gs.dim);
    DeviceBuffer arrivals(rows * sizeof(unsigned));
    arrivals.Zero(stream);
    struct Out {
      DeviceBuffer h, post, comb, p, y, q;
    };
    DeviceBuffer rms(static_cast<size_t>(rows) * 4);
    const auto run = [&](bool fused, bool defer = false) {
      Out o{ToDevice(h, stream),  ToDevice(post, stream), ToDevice(comb, stream),
            DeviceBuffer(ms * 4), DeviceBuffer(ys * 4),   DeviceBuffer(ys * 4)};
      if (fused) {
        HcPostFnPreNorm(dfn, df.as<float>(), o.h.as<float>(), rows, o.p.as<float>(),
                        dscale.as<float>(), dbase.as<float>(), gs, dw.as<float>(), 1e-6f,
                        o.y.as<float>(), o.post.as<float>(), o.comb.as<float>(),
                        arrivals.as<unsigned>(), stream, o.q.as<float>(),
                        defer ? rms.as<float>() : nullptr);
        if (defer) {
          EXPECT_EQ(ToHost(o.comb, comb.size(), stream), comb) << "the HcPost's comb changed";
          HcComb(o.p.as<float>(), rms.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
                 o.comb.as<float>(), stream);
        }
      } else {
        HcPost(df.as<float>(), o.h.as<float>(), o.post.as<float>(), o.comb.as<float>(), rows, gs,
               o.h.as<float>(), stream);
        HcFnPreNorm(dfn, o.h.as<float>(), rows, o.p.as<float>(), dscale.as<float>(),
                    dbase.as<float>(), gs, dw.as<float>(), 1e-6f, o.y.as<float>(),
                    o.post.as<float>(), o.comb.as<float>(), arrivals.as<unsigned>(), stream,
                    o.q.as<float>());
      }
      return o;
    };
    const Out want = run(false);
    ASSERT_NE(ToHost(want.h, h.size(), stream), h) << "HcPost changed the streams";
    for (int call = 0; call < 5; ++call) {
      // Calls 3 and 4: comb left to HcComb, fused steps on and off.
      const bool steps_on = call != 2 && call != 4;
      SetFusedSteps(steps_on);
      const Out got = run(true, call >= 3);
      SetFusedSteps(true);
      ExpectSameBits({{&want.h, &got.h, "h"},
                      {&want.p, &got.p, "products"},
                      {&want.y, &got.y, "y"},
                      {&want.post, &got.post, "post"},
                      {&want.comb, &got.comb, "comb"},
                      {&want.q, &got.q, "y_fp8"}},
                     "dim " + std::to_string(dim) + " call " + std::to_string(call), stream);
      ExpectCountsAtZero(arrivals, rows, "dim " + std::to_string(dim), stream);
    }
  }
  // An fn of the wrong shape: refused before anything is queued, h left as it was.
  const HcKernelShape gs = BadFnShape();
  const DeviceWeight dfn = BadHcFn(rng, stream);
  const std::vector<float> ones(2048, 1.0f);
  DeviceBuffer buf = ToDevice(ones, stream);
  EXPECT_THROW(
      HcPostFnPreNorm(dfn, buf.as<float>(), buf.as<float>(), 1, buf.as<float>(), buf.as<float>(),
                      buf.as<float>(), gs, buf.as<float>(), 1e-6f, buf.as<float>(), buf.as<float>(),
                      buf.as<float>(), buf.as<unsigned>(), stream),
      CudaError);
  EXPECT_EQ(ToHost(buf, ones.size(), stream), ones);
}

// HcCombinePostFnPreNorm (a block's first launch taking the block before's MoE output: the
// combine, its HcPost with that block's post and comb, and this block's fn product and HcPreNorm)
// against MoeCombine (then_post into h) then HcFnPreNorm: the same h, products, y, post, comb and
// FP8 copy bit for bit, with Flash's 4 x 4096 streams and the tiny checkpoints' 4 x 128, rows
// whose slots repeat an expert (counted once), the post and comb read apart from the ones
// written or the same buffers (a block following itself, as cuda_decode_bench chains one), the
// fused steps off, comb left to HcComb; called again and again (the counts stay at zero). The
// fused launch writes no MoE output; its fallback writes MoeCombine's.
TEST(CudaForwardOpsTest, HcCombinePostFnPreNormGivesMoeCombineThenHcFnPreNormBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(251);
  for (const int64_t dim : {int64_t{4096}, int64_t{128}}) {
    const HcFnWeights w = MakeHcFnWeights(dim, rng, stream);
    const HcKernelShape& gs = w.shape;
    const int64_t rows = 3, k = 6, m = (2 + gs.hc) * gs.hc, n = gs.hc * gs.dim;
    const std::vector<float> h = RandomBf16(static_cast<size_t>(rows * n), rng, 1.0f);
    const DeviceBuffer drouted =
        ToDevice(RandomBf16(static_cast<size_t>(rows * k * dim), rng, 1.0f), stream);
    const DeviceBuffer dshared =
        ToDevice(RandomBf16(static_cast<size_t>(rows * dim), rng, 1.0f), stream);
    std::vector<int32_t> ids(static_cast<size_t>(rows * k));
    std::uniform_int_distribution<int32_t> expert(0, 9);  // few experts: repeats within rows
    for (int32_t& id : ids) id = expert(rng);
    ids[1] = ids[4];  // one repeat for certain
    const DeviceBuffer dids = ToDevice(ids, stream);
    const auto [post, comb] = RandomPostAndComb(rows, gs.hc, rng);  // the block before's FFN's
    const size_t ms = static_cast<size_t>(rows * m), ys = static_cast<size_t>(rows * gs.dim);
    const std::vector<float> unset(ys, -3.0f);
    DeviceBuffer arrivals(rows * sizeof(unsigned)), rms(static_cast<size_t>(rows) * 4);
    arrivals.Zero(stream);
    struct Out {
      DeviceBuffer h, post_in, comb_in, post, comb, p, y, q, f;
    };
    // This block's post and comb start as values the HcPost must not read.
    const std::vector<float> stale_post(post.size(), -3.0f), stale_comb(comb.size(), -3.0f);
    const auto run = [&](bool fused, bool aliased, bool defer) {
      Out o{ToDevice(h, stream),          ToDevice(post, stream),       ToDevice(comb, stream),
            ToDevice(stale_post, stream), ToDevice(stale_comb, stream), DeviceBuffer(ms * 4),
            DeviceBuffer(ys * 4),         DeviceBuffer(ys * 4),         ToDevice(unset, stream)};
      float* post_out = aliased ? o.post_in.as<float>() : o.post.as<float>();
      float* comb_out = aliased ? o.comb_in.as<float>() : o.comb.as<float>();
      const MoeCombineSource source{drouted.as<float>(), dshared.as<float>(), dids.as<int32_t>(), k,
                                    o.f.as<float>()};
      if (fused) {
        HcCombinePostFnPreNorm(w.fn, source, o.post_in.as<float>(), o.comb_in.as<float>(),
                               o.h.as<float>(), rows, o.p.as<float>(), w.scale.as<float>(),
                               w.base.as<float>(), gs, w.norm.as<float>(), 1e-6f, o.y.as<float>(),
                               post_out, comb_out, arrivals.as<unsigned>(), stream, o.q.as<float>(),
                               defer ? rms.as<float>() : nullptr);
        if (defer) {
          HcComb(o.p.as<float>(), rms.as<float>(), rows, w.scale.as<float>(), w.base.as<float>(),
                 gs, comb_out, stream);
        }
      } else {
        const HcPostArgs into{o.h.as<float>(), o.post_in.as<float>(), o.comb_in.as<float>(), gs,
                              o.h.as<float>()};
        MoeCombine(source.routed, source.shared, source.ids, rows, k, dim, o.f.as<float>(), stream,
                   &into);
        HcFnPreNorm(w.fn, o.h.as<float>(), rows, o.p.as<float>(), w.scale.as<float>(),
                    w.base.as<float>(), gs, w.norm.as<float>(), 1e-6f, o.y.as<float>(), post_out,
                    comb_out, arrivals.as<unsigned>(), stream, o.q.as<float>());
      }
      if (aliased) {
        o.post = std::move(o.post_in);
        o.comb = std::move(o.comb_in);
      }
      return o;
    };
    const Out want = run(false, false, false);
    ASSERT_NE(ToHost(want.h, h.size(), stream), h) << "HcPost changed the streams";
    for (int call = 0; call < 6; ++call) {
      // Calls 1 and 4: the fused steps off (the fallback); 2 and 4: post and comb in place;
      // 3 and 5: comb left to HcComb.
      const bool steps_on = call != 1 && call != 4, aliased = call == 2 || call == 4,
                 defer = call == 3 || call == 5;
      const std::string name = "dim " + std::to_string(dim) + " call " + std::to_string(call);
      SetFusedSteps(steps_on);
      const Out got = run(true, aliased, defer);
      SetFusedSteps(true);
      ExpectSameBits({{&want.h, &got.h, "h"},
                      {&want.p, &got.p, "products"},
                      {&want.y, &got.y, "y"},
                      {&want.post, &got.post, "post"},
                      {&want.comb, &got.comb, "comb"},
                      {&want.q, &got.q, "y_fp8"}},
                     name, stream);
      if (steps_on) {
        EXPECT_EQ(ToHost(got.f, ys, stream), unset) << name << ": the fused launch wrote f";
      } else {
        ExpectSameBits({{&want.f, &got.f, "MoE output"}}, name, stream);
      }
      ExpectCountsAtZero(arrivals, rows, "dim " + std::to_string(dim), stream);
    }
  }
  // A combine of no slots or of more than 16: refused before anything is queued.
  std::mt19937 rng2(253);
  const HcFnWeights hw = MakeHcFnWeights(128, rng2, stream);
  const std::vector<float> ones(4096, 1.0f);
  DeviceBuffer buf = ToDevice(ones, stream);
  for (const int64_t k : {int64_t{0}, int64_t{17}}) {
    const MoeCombineSource source{buf.as<float>(), buf.as<float>(), buf.as<int32_t>(), k,
                                  buf.as<float>()};
    EXPECT_THROW(
        HcCombinePostFnPreNorm(hw.fn, source, buf.as<float>(), buf.as<float>(), buf.as<float>(), 1,
                               buf.as<float>(), hw.scale.as<float>(), hw.base.as<float>(), hw.shape,
                               hw.norm.as<float>(), 1e-6f, buf.as<float>(), buf.as<float>(),
                               buf.as<float>(), buf.as<unsigned>(), stream),
        CudaError)
        << k;
  }
  EXPECT_EQ(ToHost(buf, ones.size(), stream), ones);
}

// RmsNormQuant (the query's q_norm and its FP8 copy in one launch) against RmsNorm then ActQuantTo
// on the device: the same bits, y and its copy; in place as the attention runs it.
TEST(CudaForwardOpsTest, RmsNormQuantGivesRmsNormThenActQuantBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(229);
  const int64_t rows = 3, n = 1024;
  const std::vector<float> x = RandomBf16(static_cast<size_t>(rows * n), rng, 2.0f);
  std::vector<float> w = RandomBf16(static_cast<size_t>(n), rng, 0.1f);
  for (float& v : w) v = forward::RoundBf16(1.0f + v);
  const DeviceBuffer dw = ToDevice(w, stream);
  DeviceBuffer y1 = ToDevice(x, stream), y2 = ToDevice(x, stream);
  const size_t bytes = static_cast<size_t>(rows * n) * 4;
  DeviceBuffer q1(bytes), q2(bytes);
  RmsNorm(y1.as<float>(), rows, n, dw.as<float>(), 1e-6f, y1.as<float>(), stream);
  ActQuantTo(y1.as<float>(), q1.as<float>(), rows, n, 128, ActQuantFormat::kFp8, stream);
  RmsNormQuant(y2.as<float>(), rows, n, dw.as<float>(), 1e-6f, y2.as<float>(), q2.as<float>(),
               stream);
  const std::vector<float> want_y = ToHost(y1, bytes / 4, stream),
                           got_y = ToHost(y2, bytes / 4, stream);
  const std::vector<float> want_q = ToHost(q1, bytes / 4, stream),
                           got_q = ToHost(q2, bytes / 4, stream);
  ASSERT_NE(want_q, want_y);  // the quantisation rounded something
  for (size_t i = 0; i < want_y.size(); ++i) {
    ASSERT_EQ(test_support::Bits(got_y[i]), test_support::Bits(want_y[i])) << "y " << i;
    ASSERT_EQ(test_support::Bits(got_q[i]), test_support::Bits(want_q[i])) << "fp8 " << i;
  }
  EXPECT_THROW(RmsNormQuant(y2.as<float>(), 1, 100, dw.as<float>(), 1e-6f, y2.as<float>(),
                            q2.as<float>(), stream),
               CudaError);
}

// HcPre and HcHead after MatVecExact's fn products, against forward::HcPre / HcHead themselves.
TEST(CudaForwardOpsTest, HcPreAndHcHeadWithExactProductsMatchTheCpu) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(225);
  forward::HcShape s;
  s.hc = 4;
  s.dim = 4096;
  const int64_t rows = 3, n = s.hc * s.dim;
  forward::ThreadPool pool(2);
  const kernels::cpu::CpuOps ops(pool);
  const forward::Compute cx{pool, Numerics::kFast, ops};
  const std::vector<float> h = RandomBf16(static_cast<size_t>(rows * n), rng, 1.0f);
  const DeviceBuffer dh = ToDevice(h, stream);
  HcKernelShape gs;
  gs.hc = s.hc;
  gs.dim = s.dim;
  for (const bool head : {false, true}) {
    const int64_t m = head ? s.hc : (2 + s.hc) * s.hc;
    auto fn = kernels::testing::MakeWeight(WeightFormat::kF32, m, n, rng);
    forward::HcWeights w;
    w.fn = fn.matrix;
    w.base = RandomBf16(static_cast<size_t>(m), rng, 1.0f);
    w.scale = head ? std::vector<float>{0.75f} : std::vector<float>{0.5f, 0.25f, 1.5f};
    std::vector<float> cpu_y(static_cast<size_t>(rows * s.dim)),
        cpu_post(static_cast<size_t>(rows * s.hc)), cpu_comb(static_cast<size_t>(rows * 16));
    const DeviceWeight dfn = DeviceWeight::Upload(w.fn.rows_view(), m, stream);
    const DeviceBuffer dscale = ToDevice(w.scale, stream), dbase = ToDevice(w.base, stream);
    DeviceBuffer dproducts(static_cast<size_t>(rows * m) * sizeof(float)),
        dy(cpu_y.size() * sizeof(float)), dpost(cpu_post.size() * sizeof(float)),
        dcomb(cpu_comb.size() * sizeof(float));
    MatVecExact(dfn, dh.as<float>(), rows, n, dproducts.as<float>(), m, false, stream);
    if (head) {
      forward::HcHead(h.data(), rows, w, s, cpu_y.data(), cx);
      HcHead(dh.as<float>(), dproducts.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
             dy.as<float>(), stream);
      ExpectContract(ToHost(dy, cpu_y.size(), stream), cpu_y, "hc_head y", true);
    } else {
      forward::HcPre(h.data(), rows, w, s, cpu_y.data(), cpu_post.data(), cpu_comb.data(), cx);
      HcPre(dh.as<float>(), dproducts.as<float>(), rows, dscale.as<float>(), dbase.as<float>(), gs,
            dy.as<float>(), dpost.as<float>(), dcomb.as<float>(), stream);
      ExpectContract(ToHost(dy, cpu_y.size(), stream), cpu_y, "hc_pre exact y", true);
      ExpectContract(ToHost(dpost, cpu_post.size(), stream), cpu_post, "hc_pre exact post", false);
      ExpectContract(ToHost(dcomb, cpu_comb.size(), stream), cpu_comb, "hc_pre exact comb", false);
    }
  }
}

TEST(CudaForwardOpsTest, CompressorPoolMatchesTheCpu) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(227);
  struct Case {
    int64_t ratio, head_dim;
    bool overlap;
  };
  for (const Case c :
       {Case{4, 512, true}, Case{4, 128, true}, Case{128, 512, false}, Case{3, 333, false}}) {
    const int64_t slots = c.overlap ? 2 * c.ratio : c.ratio;
    const int64_t width = c.overlap ? 2 * c.head_dim : c.head_dim;
    const std::vector<float> kv = RandomBf16(static_cast<size_t>(slots * width), rng, 1.0f);
    const std::vector<float> score = RandomBf16(static_cast<size_t>(slots * width), rng, 3.0f);
    std::vector<float> cpu(static_cast<size_t>(c.head_dim));
    kernels::cpu::PoolBlock(kv.data(), score.data(), width, c.ratio, c.head_dim, c.overlap,
                            cpu.data());
    std::vector<float> cpu_bf16 = cpu;
    for (float& v : cpu_bf16) v = forward::RoundBf16(v);
    const DeviceBuffer dkv = ToDevice(kv, stream), dscore = ToDevice(score, stream);
    DeviceBuffer dentry(cpu.size() * sizeof(float));
    const std::string name =
        "compressor_pool ratio " + std::to_string(c.ratio) + " dim " + std::to_string(c.head_dim);
    CompressorPool(dkv.as<float>(), dscore.as<float>(), width, c.ratio, c.head_dim, c.overlap,
                   false, dentry.as<float>(), stream);
    ExpectContract(ToHost(dentry, cpu.size(), stream), cpu, name, false);
    CompressorPool(dkv.as<float>(), dscore.as<float>(), width, c.ratio, c.head_dim, c.overlap, true,
                   dentry.as<float>(), stream);
    ExpectContract(ToHost(dentry, cpu.size(), stream), cpu_bf16, name + " bf16", true);
  }
}

// The whole compressor step on the device (exact projections, state, pooling, norm, RoPE,
// Hadamard + FP4 or FP8) against the CPU Compress fed one token at a time: the entries and the
// state after every token.
TEST(CudaForwardOpsTest, CompressTokenMatchesTheCpuCompressorTokenByToken) {
  REQUIRE_CUDA_DEVICE();
  auto config = LoadModelConfig((test_support::TestDataDir() / "v4-flash-config.json").string());
  ASSERT_TRUE(config) << config.error();
  const forward::Rope rope(*config, /*compressed_layer=*/true);
  CudaStream stream;
  std::mt19937 rng(229);
  forward::ThreadPool pool(2);
  const kernels::cpu::CpuOps ops(pool);
  const forward::Compute cx{pool, Numerics::kFast, ops};
  struct Case {
    int ratio;
    int64_t head_dim, tokens;
    bool rotate;
    WeightFormat format;
  };
  const int64_t dim = 1024;
  for (const Case c : {Case{4, 128, 37, true, WeightFormat::kBF16},         // indexer keys
                       Case{4, 512, 21, false, WeightFormat::kFP8},         // CSA main KV
                       Case{128, 512, 260, false, WeightFormat::kBF16}}) {  // HCA
    forward::CompressorWeights w;
    w.ratio = c.ratio;
    w.head_dim = c.head_dim;
    w.overlap = c.ratio == 4;
    w.rotate = c.rotate;
    const int64_t width = w.overlap ? 2 * c.head_dim : c.head_dim;
    const int64_t slots = w.overlap ? 2 * c.ratio : c.ratio;
    auto wkv = kernels::testing::MakeWeight(c.format, width, dim, rng);
    auto wgate = kernels::testing::MakeWeight(c.format, width, dim, rng);
    w.wkv = wkv.matrix;
    w.wgate = wgate.matrix;
    w.ape = RandomBf16(static_cast<size_t>(c.ratio * width), rng, 0.5f);
    w.norm = RandomBf16(static_cast<size_t>(c.head_dim), rng, 0.2f);
    for (float& v : w.norm) v = forward::RoundBf16(v + 1.0f);
    forward::CompressorState st;
    st.slots = slots;
    st.width = width;
    st.kv.assign(static_cast<size_t>(slots * width), 0.0f);
    st.score.assign(st.kv.size(), -std::numeric_limits<float>::infinity());
    std::vector<uint16_t> cpu_entries;

    CompressorShape shape;
    shape.ratio = c.ratio;
    shape.head_dim = c.head_dim;
    shape.rope_dims = rope.dims();
    shape.overlap = w.overlap;
    shape.rotate = c.rotate;
    shape.norm_eps = 1e-6f;
    DeviceCompressor dc = DeviceCompressor::Create(shape, w.wkv.rows_view(), w.wgate.rows_view(),
                                                   w.ape, w.norm, rope.frequencies(), stream);
    DeviceCompressorState dstate = DeviceCompressorState::Create(shape, stream);
    const int64_t n_entries = c.tokens / c.ratio;
    DeviceBuffer dentries(static_cast<size_t>(n_entries * c.head_dim) * sizeof(uint16_t));
    const std::string name = "compress ratio " + std::to_string(c.ratio) + " dim " +
                             std::to_string(c.head_dim) + (c.rotate ? " rotate" : "");
    for (int64_t pos = 0; pos < c.tokens; ++pos) {
      const std::vector<float> x = RandomBf16(static_cast<size_t>(dim), rng, 1.0f);
      forward::Compress(w, rope, 1e-6f, pos, x.data(), 1, st, cpu_entries, cx);
      const DeviceBuffer dx = ToDevice(x, stream);
      EXPECT_EQ(CompressToken(dc, dstate, dx.as<float>(), pos, dentries.as<uint16_t>(), stream),
                (pos + 1) % c.ratio == 0)
          << name << " pos " << pos;
      ExpectContract(ToHost(dstate.kv, st.kv.size(), stream), st.kv, name + " state kv", false);
      ExpectContract(ToHost(dstate.score, st.score.size(), stream), st.score, name + " state score",
                     false);
    }
    ASSERT_EQ(static_cast<int64_t>(cpu_entries.size()), n_entries * c.head_dim);
    const std::vector<uint16_t> gpu_bits = ToHost<uint16_t>(dentries, cpu_entries.size(), stream);
    std::vector<float> gpu_entries, cpu_values;
    for (size_t i = 0; i < gpu_bits.size(); ++i) {
      gpu_entries.push_back(forward::Bf16BitsToFloat(gpu_bits[i]));
      cpu_values.push_back(forward::Bf16BitsToFloat(cpu_entries[i]));
    }
    ExpectContract(gpu_entries, cpu_values, name + " entries", true);
  }
}

// A compressor of one of V4's kinds (RoPE on the last 64 of its head_dim, overlapping at ratio
// 4) with random bf16 weights over inputs of `dim`, for the tests that feed one two ways.
DeviceCompressor RandomCompressor(int ratio, int64_t head_dim, bool rotate, int64_t dim,
                                  std::mt19937& rng, CudaStream& stream) {
  CompressorShape shape;
  shape.ratio = ratio;
  shape.head_dim = head_dim;
  shape.rope_dims = 64;
  shape.overlap = ratio == 4;
  shape.rotate = rotate;
  const int64_t width = shape.width();
  auto wkv = kernels::testing::MakeWeight(WeightFormat::kBF16, width, dim, rng);
  auto wgate = kernels::testing::MakeWeight(WeightFormat::kBF16, width, dim, rng);
  const std::vector<float> ape = RandomBf16(static_cast<size_t>(ratio * width), rng, 0.5f);
  std::vector<float> norm = RandomBf16(static_cast<size_t>(head_dim), rng, 0.2f);
  for (float& v : norm) v = forward::RoundBf16(v + 1.0f);
  std::vector<float> freqs(32);
  for (size_t i = 0; i < freqs.size(); ++i) {
    freqs[i] = std::pow(10000.0f, -static_cast<float>(i) / 32.0f);
  }
  return DeviceCompressor::Create(shape, wkv.matrix.rows_view(), wgate.matrix.rows_view(), ape,
                                  norm, freqs, stream);
}

// A compressor fed whole chunks (CompressProjectedRows) = the same compressor fed row by row
// (CompressProjected), bit for bit: the entries and both state buffers after every chunk, for
// chunks of 1 to 300 rows that start and end anywhere in a block (the indexer's keys, CSA's
// overlapping KV, HCA's 128-row blocks).
TEST(CudaForwardOpsTest, CompressProjectedRowsGivesTheRowStepsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(233);
  const int64_t dim = 256;
  struct Case {
    int ratio;
    int64_t head_dim;
    bool rotate;
  };
  const std::vector<int64_t> chunks = {1, 3, 8, 13, 2, 64, 5, 300, 1, 256};
  int64_t tokens = 0;
  for (const int64_t n : chunks) tokens += n;
  for (const Case c : {Case{4, 128, true}, Case{4, 512, false}, Case{128, 512, false}}) {
    DeviceCompressor dc = RandomCompressor(c.ratio, c.head_dim, c.rotate, dim, rng, stream);
    const CompressorShape& shape = dc.shape;
    const int64_t width = shape.width();
    DeviceCompressorState rows_state = DeviceCompressorState::Create(shape, stream);
    DeviceCompressorState chunk_state = DeviceCompressorState::Create(shape, stream);
    const std::vector<float> x = RandomBf16(static_cast<size_t>(tokens * dim), rng, 1.0f);
    const DeviceBuffer dx = ToDevice(x, stream);
    DeviceBuffer projected(static_cast<size_t>(tokens * 2 * width) * 4);
    CompressorProjections(dc, dx.as<float>(), tokens, dim, projected.as<float>(), stream);
    const int64_t n_entries = tokens / c.ratio;
    DeviceBuffer rows_entries(static_cast<size_t>(n_entries * c.head_dim) * 2),
        chunk_entries(rows_entries.bytes());
    rows_entries.Zero(stream);
    chunk_entries.Zero(stream);
    const int64_t blocks = CompressRowsBlocks(shape, 300);
    DeviceBuffer kv(static_cast<size_t>(blocks * shape.slots() * width) * 4), score(kv.bytes()),
        entries(static_cast<size_t>(blocks * c.head_dim) * 4),
        positions(static_cast<size_t>(blocks) * 4);
    const CompressRowsScratch scratch{kv.as<float>(), score.as<float>(), entries.as<float>(),
                                      positions.as<int32_t>(), blocks};
    const std::string name = "ratio " + std::to_string(c.ratio) + " dim " +
                             std::to_string(c.head_dim) + (c.rotate ? " rotate" : "");
    int64_t pos = 0;
    for (const int64_t n : chunks) {
      int64_t completed = 0;
      for (int64_t p = pos; p < pos + n; ++p) {
        completed += CompressProjected(dc, rows_state, projected.as<float>() + p * 2 * width, p,
                                       rows_entries.as<uint16_t>(), stream)
                         ? 1
                         : 0;
      }
      EXPECT_EQ(CompressProjectedRows(dc, chunk_state, projected.as<float>() + pos * 2 * width, pos,
                                      n, chunk_entries.as<uint16_t>(), scratch, stream),
                completed)
          << name << " chunk at " << pos;
      pos += n;
      const std::string at = name + ", after the chunk ending at " + std::to_string(pos);
      const size_t state_n = static_cast<size_t>(shape.slots() * width);
      for (const bool kv_buffer : {true, false}) {
        const auto a = ToHost(kv_buffer ? chunk_state.kv : chunk_state.score, state_n, stream);
        const auto b = ToHost(kv_buffer ? rows_state.kv : rows_state.score, state_n, stream);
        for (size_t i = 0; i < state_n; ++i) {
          ASSERT_EQ(test_support::Bits(a[i]), test_support::Bits(b[i]))
              << at << (kv_buffer ? ": state kv " : ": state score ") << i;
        }
      }
      const auto a =
          ToHost<uint16_t>(chunk_entries, static_cast<size_t>(n_entries * c.head_dim), stream);
      const auto b =
          ToHost<uint16_t>(rows_entries, static_cast<size_t>(n_entries * c.head_dim), stream);
      ASSERT_EQ(a, b) << at << ": entries";
    }
  }
}

// A batched step's compressor launch for all its rows (CompressProjectedSequences: each row of
// its own sequence, at its own position) = CompressProjected row by row, bit for bit: every
// row's state and entries after each of four steps, with rows that complete a block at
// different steps (the indexer's keys, CSA's overlapping KV, HCA's 128-row blocks). The states
// start random (the kernels read whatever is there). Fused steps off, it does not take the rows
// and says so.
TEST(CudaForwardOpsTest, CompressProjectedSequencesGivesEachRowsCompressProjectedBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(239);
  struct Case {
    int ratio;
    int64_t head_dim;
    bool rotate;
    std::vector<int64_t> positions;  // each row's at the first step
  };
  const int64_t steps = 4;
  for (const Case& c : {Case{4, 128, true, {0, 2, 3, 7, 14}}, Case{4, 512, false, {5, 1, 40}},
                        Case{128, 512, false, {124, 126, 127, 250, 1}}}) {
    DeviceCompressor dc = RandomCompressor(c.ratio, c.head_dim, c.rotate, 128, rng, stream);
    const CompressorShape& shape = dc.shape;
    const int64_t width = shape.width(), n = static_cast<int64_t>(c.positions.size());
    const int64_t state_n = shape.slots() * width;
    // Each row's sequence twice (row by row; all at once), from the same random state and entries.
    const int64_t entries_n =
        (*std::max_element(c.positions.begin(), c.positions.end()) + steps) / c.ratio * c.head_dim +
        c.head_dim;
    std::vector<DeviceCompressorState> alone(static_cast<size_t>(n)), together(alone.size());
    std::vector<DeviceBuffer> alone_entries, together_entries;
    std::vector<CompressorRow> rows;
    for (int64_t t = 0; t < n; ++t) {
      const std::vector<float> kv = RandomBf16(static_cast<size_t>(state_n), rng, 1.0f);
      const std::vector<float> score = RandomBf16(static_cast<size_t>(state_n), rng, 1.0f);
      const std::vector<uint16_t> entries =
          ToBf16Bits(RandomBf16(static_cast<size_t>(entries_n), rng, 1.0f));
      for (auto* st : {&alone[static_cast<size_t>(t)], &together[static_cast<size_t>(t)]}) {
        st->kv = ToDevice(kv, stream);
        st->score = ToDevice(score, stream);
      }
      alone_entries.push_back(ToDevice(entries, stream));
      together_entries.push_back(ToDevice(entries, stream));
      rows.push_back({together[static_cast<size_t>(t)].kv.as<float>(),
                      together[static_cast<size_t>(t)].score.as<float>(),
                      together_entries.back().as<uint16_t>()});
    }
    DeviceBuffer drows(rows.size() * sizeof(CompressorRow));
    drows.Upload(rows.data(), drows.bytes(), stream);
    const std::string name = "ratio " + std::to_string(c.ratio) + " dim " +
                             std::to_string(c.head_dim) + (c.rotate ? " rotate" : "");
    ASSERT_TRUE(CompressProjectedSequencesTakes(dc)) << name;
    DeviceBuffer entry(static_cast<size_t>(n * c.head_dim) * 4),
        positions(static_cast<size_t>(n) * 4);
    for (int64_t step = 0; step < steps; ++step) {
      std::vector<int32_t> pos;
      for (const int64_t p : c.positions) pos.push_back(static_cast<int32_t>(p + step));
      positions.Upload(pos.data(), pos.size() * 4, stream);
      // Rows 2 * width + 8 apart: the launch reads each at its stride.
      const int64_t stride = 2 * width + 8;
      const DeviceBuffer projected =
          ToDevice(RandomBf16(static_cast<size_t>(n * stride), rng, 1.0f), stream);
      for (int64_t t = 0; t < n; ++t) {
        CompressProjected(dc, alone[static_cast<size_t>(t)], projected.as<float>() + t * stride,
                          pos[static_cast<size_t>(t)],
                          alone_entries[static_cast<size_t>(t)].as<uint16_t>(), stream);
      }
      CompressProjectedSequences(dc, drows.as<CompressorRow>(), positions.as<int32_t>(),
                                 projected.as<float>(), stride, n, entry.as<float>(), stream);
      for (int64_t t = 0; t < n; ++t) {
        const std::string at = name + ", step " + std::to_string(step) + ", row " +
                               std::to_string(t) + " at " + std::to_string(pos[t]);
        const size_t i = static_cast<size_t>(t);
        for (const bool kv_buffer : {true, false}) {
          const auto a = ToHost(kv_buffer ? together[i].kv : together[i].score,
                                static_cast<size_t>(state_n), stream);
          const auto b = ToHost(kv_buffer ? alone[i].kv : alone[i].score,
                                static_cast<size_t>(state_n), stream);
          for (size_t e = 0; e < a.size(); ++e) {
            ASSERT_EQ(test_support::Bits(a[e]), test_support::Bits(b[e]))
                << at << (kv_buffer ? ": state kv " : ": state score ") << e;
          }
        }
        ASSERT_EQ(ToHost<uint16_t>(together_entries[i], static_cast<size_t>(entries_n), stream),
                  ToHost<uint16_t>(alone_entries[i], static_cast<size_t>(entries_n), stream))
            << at << ": entries";
      }
    }
    SetFusedSteps(false);
    EXPECT_FALSE(CompressProjectedSequencesTakes(dc));
    EXPECT_THROW(CompressProjectedSequences(dc, drows.as<CompressorRow>(), positions.as<int32_t>(),
                                            nullptr, 2 * width, n, entry.as<float>(), stream),
                 CudaError);
    SetFusedSteps(true);
  }
}

// The indexer's whole decode step on the device (query, compressor, head weights, scores, top-k)
// against the CPU SelectEntries fed the same tokens one at a time: the keys and the selected
// lists after every token.
TEST(CudaForwardOpsTest, IndexerSelectMatchesTheCpuSelectionTokenByToken) {
  REQUIRE_CUDA_DEVICE();
  auto loaded = LoadModelConfig((test_support::TestDataDir() / "v4-flash-config.json").string());
  ASSERT_TRUE(loaded) << loaded.error();
  ModelConfig config = *loaded;
  config.index_topk = 16;  // reached after 64 tokens, so the top-k drops entries
  const forward::Rope rope(config, /*compressed_layer=*/true);
  CudaStream stream;
  std::mt19937 rng(231);
  forward::ThreadPool pool(2);
  const kernels::cpu::CpuOps ops(pool);
  const forward::Compute cx{pool, Numerics::kFast, ops};
  const int64_t dim = 1024, rank = 512, heads = config.index_n_heads, hd = config.index_head_dim;
  const int64_t tokens = 90, ratio = 4;

  forward::IndexerWeights w;
  auto wq_b = kernels::testing::MakeWeight(WeightFormat::kFP8, heads * hd, rank, rng);
  auto weights_proj = kernels::testing::MakeWeight(WeightFormat::kBF16, heads, dim, rng);
  auto wkv = kernels::testing::MakeWeight(WeightFormat::kBF16, 2 * hd, dim, rng);
  auto wgate = kernels::testing::MakeWeight(WeightFormat::kBF16, 2 * hd, dim, rng);
  w.wq_b = wq_b.matrix;
  w.weights_proj = weights_proj.matrix;
  forward::CompressorWeights& cw = w.compressor;
  cw.ratio = ratio;
  cw.head_dim = hd;
  cw.overlap = true;
  cw.rotate = true;
  cw.wkv = wkv.matrix;
  cw.wgate = wgate.matrix;
  cw.ape = RandomBf16(static_cast<size_t>(ratio * 2 * hd), rng, 0.5f);
  cw.norm = RandomBf16(static_cast<size_t>(hd), rng, 0.2f);
  for (float& v : cw.norm) v = forward::RoundBf16(v + 1.0f);
  forward::LayerState st;
  st.ratio = ratio;
  st.index_head_dim = hd;
  st.index_compressor.slots = 2 * ratio;
  st.index_compressor.width = 2 * hd;
  st.index_compressor.kv.assign(static_cast<size_t>(2 * ratio * 2 * hd), 0.0f);
  st.index_compressor.score.assign(st.index_compressor.kv.size(),
                                   -std::numeric_limits<float>::infinity());

  CompressorShape cshape;
  cshape.ratio = ratio;
  cshape.head_dim = hd;
  cshape.rope_dims = rope.dims();
  cshape.overlap = true;
  cshape.rotate = true;
  cshape.norm_eps = static_cast<float>(config.norm_eps);
  IndexerShape shape;
  shape.heads = heads;
  shape.head_dim = hd;
  shape.rope_dims = rope.dims();
  shape.topk = config.index_topk;
  shape.ratio = ratio;
  shape.capacity = tokens / ratio;
  DeviceIndexer ix = DeviceIndexer::Create(
      shape, w.wq_b.rows_view(), w.weights_proj.rows_view(), rope.frequencies(),
      DeviceCompressor::Create(cshape, cw.wkv.rows_view(), cw.wgate.rows_view(), cw.ape, cw.norm,
                               rope.frequencies(), stream),
      stream);
  DeviceIndexerState ix_state = DeviceIndexerState::Create(ix, stream);
  DeviceBuffer dselected(static_cast<size_t>(shape.topk) * sizeof(int32_t));
  int64_t lists_differing = 0;
  for (int64_t pos = 0; pos < tokens; ++pos) {
    const std::vector<float> x = RandomBf16(static_cast<size_t>(dim), rng, 1.0f);
    const std::vector<float> qr = RandomBf16(static_cast<size_t>(rank), rng, 1.0f);
    forward::IndexerArgs args;
    args.start = pos;
    args.x = x.data();
    args.qr = qr.data();
    args.rows = 1;
    forward::EntryLists lists;
    forward::SelectEntries(w, config, rope, args, st, cx, lists);
    const std::vector<int32_t> cpu(lists.row(0).begin(), lists.row(0).end());
    const DeviceBuffer dx = ToDevice(x, stream), dqr = ToDevice(qr, stream);
    // The indexer takes qr's FP8 copy, as RmsNormQuant makes it for the attention.
    ActQuant(dqr.as<float>(), 1, rank, 128, ActQuantFormat::kFp8, stream);
    const int64_t count = IndexerSelect(ix, ix_state, dx.as<float>(), dqr.as<float>(), pos,
                                        dselected.as<int32_t>(), stream);
    ASSERT_EQ(count, static_cast<int64_t>(cpu.size())) << "pos " << pos;
    const std::vector<int32_t> gpu =
        count > 0 ? ToHost<int32_t>(dselected, static_cast<size_t>(count), stream)
                  : std::vector<int32_t>{};
    if (gpu != cpu) {
      ++lists_differing;
      ADD_FAILURE() << "pos " << pos << ": the selected lists differ";
    }
  }
  std::printf("indexer_select: %lld of %lld lists identical\n",
              static_cast<long long>(tokens - lists_differing), static_cast<long long>(tokens));
  // The keys the compressor wrote on both sides.
  const int64_t n_keys = tokens / ratio;
  ASSERT_EQ(static_cast<int64_t>(st.index_keys.size()), n_keys * hd);
  const std::vector<uint16_t> gpu_bits =
      ToHost<uint16_t>(ix_state.keys, static_cast<size_t>(n_keys * hd), stream);
  std::vector<float> gpu_keys, cpu_keys;
  for (size_t i = 0; i < gpu_bits.size(); ++i) {
    gpu_keys.push_back(forward::Bf16BitsToFloat(gpu_bits[i]));
    cpu_keys.push_back(forward::Bf16BitsToFloat(st.index_keys[i]));
  }
  ExpectContract(gpu_keys, cpu_keys, "indexer_select keys", true);
}

// A compressor's random weights and empty state, on the host.
struct HostCompressor {
  kernels::testing::RandomWeight wkv, wgate;
  forward::CompressorWeights w;
  forward::CompressorState state;
};
HostCompressor MakeCompressor(int ratio, int64_t head_dim, int64_t dim, bool rotate,
                              std::mt19937& rng) {
  HostCompressor c;
  const bool overlap = ratio == 4;
  const int64_t width = overlap ? 2 * head_dim : head_dim, slots = overlap ? 2 * ratio : ratio;
  c.wkv = kernels::testing::MakeWeight(WeightFormat::kBF16, width, dim, rng);
  c.wgate = kernels::testing::MakeWeight(WeightFormat::kBF16, width, dim, rng);
  c.w.ratio = ratio;
  c.w.head_dim = head_dim;
  c.w.overlap = overlap;
  c.w.rotate = rotate;
  c.w.wkv = c.wkv.matrix;
  c.w.wgate = c.wgate.matrix;
  c.w.ape = RandomBf16(static_cast<size_t>(ratio * width), rng, 0.5f);
  c.w.norm = RandomBf16(static_cast<size_t>(head_dim), rng, 0.2f);
  for (float& v : c.w.norm) v = forward::RoundBf16(v + 1.0f);
  c.state.slots = slots;
  c.state.width = width;
  c.state.kv.assign(static_cast<size_t>(slots * width), 0.0f);
  c.state.score.assign(c.state.kv.size(), -std::numeric_limits<float>::infinity());
  return c;
}
// The V4-Flash config with smaller sizes for the decode-step tests: fewer heads, a window of 16
// (it wraps within the tests' tokens), a top-8 indexer.
ModelConfig SmallConfig(int64_t dim) {
  auto loaded = LoadModelConfig((test_support::TestDataDir() / "v4-flash-config.json").string());
  EXPECT_TRUE(loaded) << loaded.error();
  ModelConfig c = loaded ? *loaded : ModelConfig{};
  c.dim = dim;
  c.n_heads = 8;
  c.q_lora_rank = 512;
  c.o_groups = 2;
  c.o_lora_rank = 256;
  c.window_size = 16;
  c.index_topk = 8;
  c.n_routed_experts = 16;
  c.n_activated_experts = 4;
  c.moe_inter_dim = 256;
  c.score_func = "sqrtsoftplus";
  c.route_scale = 1.5;
  c.swiglu_limit = 10.0;
  return c;
}

// An attention sub-layer's random weights and empty state on the host (filled in place: the
// views point into `storage` and the compressors).
struct HostAttention {
  std::vector<kernels::testing::RandomWeight> storage;
  std::optional<HostCompressor> kv_compressor, index_compressor;
  forward::AttentionWeights w;
  forward::LayerState state;
};
void MakeAttention(const ModelConfig& c, int ratio, std::mt19937& rng, HostAttention& a) {
  const int64_t hd = c.head_dim;
  // (Moving a RandomWeight as the vector grows keeps its buffers, so the views stay valid.)
  const auto weight = [&](WeightFormat f, int64_t rows, int64_t cols) {
    a.storage.push_back(kernels::testing::MakeWeight(f, rows, cols, rng));
    return a.storage.back().matrix;
  };
  forward::AttentionWeights& w = a.w;
  w.ratio = ratio;
  w.wq_a = weight(WeightFormat::kFP8, c.q_lora_rank, c.dim);
  w.wq_b = weight(WeightFormat::kFP8, c.n_heads * hd, c.q_lora_rank);
  w.wkv = weight(WeightFormat::kFP8, hd, c.dim);
  w.wo_a = weight(WeightFormat::kBF16, c.o_groups * c.o_lora_rank, c.n_heads * hd / c.o_groups);
  w.wo_b = weight(WeightFormat::kFP8, c.dim, c.o_groups * c.o_lora_rank);
  w.q_norm = RandomBf16(static_cast<size_t>(c.q_lora_rank), rng, 0.2f);
  w.kv_norm = RandomBf16(static_cast<size_t>(hd), rng, 0.2f);
  for (float& v : w.q_norm) v = forward::RoundBf16(v + 1.0f);
  for (float& v : w.kv_norm) v = forward::RoundBf16(v + 1.0f);
  w.attn_sink = RandomBf16(static_cast<size_t>(c.n_heads), rng, 1.0f);
  forward::LayerState& st = a.state;
  st.ratio = ratio;
  st.head_dim = hd;
  st.rope_dims = c.rope_head_dim;
  st.window.assign(static_cast<size_t>(c.window_size * hd), 0);
  if (ratio > 0) {
    a.kv_compressor = MakeCompressor(ratio, hd, c.dim, false, rng);
    w.has_compressor = true;
    w.compressor = a.kv_compressor->w;
    st.kv_compressor = a.kv_compressor->state;
  }
  if (ratio == 4) {
    a.index_compressor = MakeCompressor(4, c.index_head_dim, c.dim, true, rng);
    w.has_indexer = true;
    w.indexer.wq_b =
        weight(WeightFormat::kFP8, int64_t{c.index_n_heads} * c.index_head_dim, c.q_lora_rank);
    w.indexer.weights_proj = weight(WeightFormat::kBF16, c.index_n_heads, c.dim);
    w.indexer.compressor = a.index_compressor->w;
    st.index_head_dim = c.index_head_dim;
    st.index_compressor = a.index_compressor->state;
  }
}
// One attention sub-layer's decode on the device against the CPU AttentionForward fed the same
// tokens one at a time, for a window-only, an HCA (ratio 8) and a CSA (ratio 4, indexer) layer:
// the output after every token, the window ring and the compressed entries at the end. A small
// window (16) so the ring wraps; the V4-Flash head sizes, fewer heads.
TEST(CudaForwardOpsTest, AttentionDecodeMatchesTheCpuAttentionTokenByToken) {
  REQUIRE_CUDA_DEVICE();
  const ModelConfig c = SmallConfig(1024);
  CudaStream stream;
  std::mt19937 rng(233);
  forward::ThreadPool pool(2);
  const kernels::cpu::CpuOps ops(pool);
  const forward::Compute cx{pool, Numerics::kFast, ops};
  const int64_t tokens = 70;
  for (const int ratio : {0, 8, 4}) {
    const forward::Rope rope(c, ratio > 0);
    HostAttention a;
    MakeAttention(c, ratio, rng, a);
    DeviceAttention da = UploadAttention(a.w, c, rope, tokens, stream);
    DeviceAttentionState dstate = DeviceAttentionState::Create(da, stream);
    const std::string name = "attention ratio " + std::to_string(ratio);
    std::vector<float> cpu_out_all, gpu_out_all;
    DeviceBuffer dout(static_cast<size_t>(c.dim) * sizeof(float));
    for (int64_t pos = 0; pos < tokens; ++pos) {
      const std::vector<float> x = RandomBf16(static_cast<size_t>(c.dim), rng, 1.0f);
      std::vector<float> cpu(static_cast<size_t>(c.dim));
      forward::AttentionForward(a.w, c, rope, pos, x.data(), 1, a.state, cpu.data(), cx);
      const DeviceBuffer dx = ToDevice(x, stream);
      AttentionDecode(da, dstate, dx.as<float>(), pos, dout.as<float>(), stream);
      const std::vector<float> gpu = ToHost(dout, cpu.size(), stream);
      cpu_out_all.insert(cpu_out_all.end(), cpu.begin(), cpu.end());
      gpu_out_all.insert(gpu_out_all.end(), gpu.begin(), gpu.end());
    }
    ExpectContract(gpu_out_all, cpu_out_all, name + " outputs", true);
    // The cache: the ring, then the compressed entries.
    std::vector<uint16_t> cpu_cache = a.state.window;
    cpu_cache.insert(cpu_cache.end(), a.state.compressed.begin(), a.state.compressed.end());
    const std::vector<uint16_t> gpu_bits = ToHost<uint16_t>(dstate.cache, cpu_cache.size(), stream);
    std::vector<float> gpu_cache, cpu_values;
    for (size_t i = 0; i < gpu_bits.size(); ++i) {
      gpu_cache.push_back(forward::Bf16BitsToFloat(gpu_bits[i]));
      cpu_values.push_back(forward::Bf16BitsToFloat(cpu_cache[i]));
    }
    ExpectContract(gpu_cache, cpu_values, name + " cache", true);
  }
}

// The MoE FFN's decode step on the device (router, routed experts by device ids, shared expert,
// combine) against the CPU MoeForward token by token, for a scored layer and a hash layer whose
// tid2eid (I64, as checkpoints store it) routes some tokens twice to one expert. And the expert
// offload: half the experts, then all of them, kept on the host (computed by the CPU kernels
// while the device computes the rest) give the same bits as all of them on the device; so does
// the shared expert on the step's stream instead of its own (side streams off).
TEST(CudaForwardOpsTest, MoeDecodeMatchesTheCpuMoeTokenByToken) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(237);
  forward::ThreadPool pool(2);
  const kernels::cpu::CpuOps ops(pool);
  const forward::Compute cx{pool, Numerics::kFast, ops};
  const ModelConfig c = SmallConfig(512);
  const int64_t vocab = 50, tokens = 12;
  for (const bool hash : {false, true}) {
    HostMoe m;
    MakeMoe(c, hash, vocab, rng, m);
    DeviceMoe dm = UploadMoe(m.w, c, stream);
    DeviceMoe half = UploadMoe(m.w, c, stream, c.n_routed_experts / 2, &cx);
    DeviceMoe none = UploadMoe(m.w, c, stream, 0, &cx);
    std::vector<float> cpu_all, gpu_all;
    DeviceBuffer dout(static_cast<size_t>(c.dim) * sizeof(float));
    std::uniform_int_distribution<int32_t> token_id(0, vocab - 1);
    for (int64_t t = 0; t < tokens; ++t) {
      const std::vector<float> x = RandomBf16(static_cast<size_t>(c.dim), rng, 1.0f);
      const std::vector<int32_t> token = {
          static_cast<int32_t>(t % 3 == 0 ? 3 * (t % 16) : token_id(rng))};
      std::vector<float> cpu(static_cast<size_t>(c.dim));
      forward::MoeForward(m.w, c, x.data(), token.data(), 1, cpu.data(), cx);
      const DeviceBuffer dx = ToDevice(x, stream), dtoken = ToDevice(token, stream);
      MoeDecode(dm, dx.as<float>(), hash ? dtoken.as<int32_t>() : nullptr, dout.as<float>(),
                stream);
      const std::vector<float> gpu = ToHost(dout, cpu.size(), stream);
      // The shared expert on the step's own stream (side streams off): the same bits.
      const bool overlap_before = SideStreamsOn();
      SetSideStreams(!overlap_before);
      MoeDecode(dm, dx.as<float>(), hash ? dtoken.as<int32_t>() : nullptr, dout.as<float>(),
                stream);
      SetSideStreams(overlap_before);
      const std::vector<float> other = ToHost(dout, cpu.size(), stream);
      for (size_t i = 0; i < gpu.size(); ++i) {
        ASSERT_EQ(test_support::Bits(other[i]), test_support::Bits(gpu[i]))
            << (hash ? "hash" : "scored") << " token " << t << " value " << i
            << " with the shared expert's stream " << (overlap_before ? "off" : "on");
      }
      for (DeviceMoe* offloaded : {&half, &none}) {
        MoeDecode(*offloaded, dx.as<float>(), hash ? dtoken.as<int32_t>() : nullptr,
                  dout.as<float>(), stream);
        const std::vector<float> split = ToHost(dout, cpu.size(), stream);
        for (size_t i = 0; i < gpu.size(); ++i) {
          ASSERT_EQ(test_support::Bits(split[i]), test_support::Bits(gpu[i]))
              << (hash ? "hash" : "scored") << " token " << t << " value " << i << " with "
              << offloaded->on_device << " experts on the device";
        }
      }
      cpu_all.insert(cpu_all.end(), cpu.begin(), cpu.end());
      gpu_all.insert(gpu_all.end(), gpu.begin(), gpu.end());
    }
    ExpectContract(gpu_all, cpu_all, hash ? "moe_decode hash" : "moe_decode scored", true);
  }
}

// mHC mixing weights on the host: fn F32 [mix, hc*dim] (into `storage`), base, scale.
forward::HcWeights MakeHc(int64_t mix, int64_t n, std::mt19937& rng,
                          std::vector<kernels::testing::RandomWeight>& storage) {
  storage.push_back(kernels::testing::MakeWeight(WeightFormat::kF32, mix, n, rng));
  forward::HcWeights w;
  w.fn = storage.back().matrix;
  w.base = RandomBf16(static_cast<size_t>(mix), rng, 1.0f);
  w.scale = mix == 4 ? std::vector<float>{0.75f} : std::vector<float>{0.5f, 0.25f, 1.5f};
  return w;
}

// Whole blocks and the head on the device against the CPU BlockForward / HeadForward: a CSA
// block with a hash MoE and an HCA block with a scored one, each fed 40 tokens' streams, then the
// head's logits of the last streams.
TEST(CudaForwardOpsTest, BlockDecodeAndHeadDecodeMatchTheCpuTokenByToken) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(239);
  forward::ThreadPool pool(2);
  const kernels::cpu::CpuOps ops(pool);
  const forward::Compute cx{pool, Numerics::kFast, ops};
  const ModelConfig c = SmallConfig(512);
  const int64_t vocab = 50, tokens = 40, hc = c.hc_mult, n = hc * c.dim;
  const int64_t mix = (2 + hc) * hc, logits_n = 1000;
  HcKernelShape shape;
  shape.hc = hc;
  shape.dim = c.dim;
  shape.sinkhorn_iters = c.hc_sinkhorn_iters;
  shape.hc_eps = static_cast<float>(c.hc_eps);
  shape.norm_eps = static_cast<float>(c.norm_eps);
  std::vector<kernels::testing::RandomWeight> storage;
  const forward::HcWeights hc_head = MakeHc(hc, n, rng, storage);
  storage.push_back(kernels::testing::MakeWeight(WeightFormat::kBF16, logits_n, c.dim, rng));
  const forward::WeightMatrix head = storage.back().matrix;
  std::vector<float> norm = RandomBf16(static_cast<size_t>(c.dim), rng, 0.2f);
  for (float& v : norm) v = forward::RoundBf16(v + 1.0f);
  DeviceHead dhead = DeviceHead::Create(
      shape,
      DeviceHcWeights::Upload(hc_head.fn.rows_view(), hc, hc_head.base, hc_head.scale, stream),
      norm, head.rows_view(), logits_n, stream);
  for (const auto& [ratio, hash] : {std::pair<int, bool>{4, true}, {8, false}}) {
    const forward::Rope rope(c, true);
    HostAttention attn;
    MakeAttention(c, ratio, rng, attn);
    HostMoe moe;
    MakeMoe(c, hash, vocab, rng, moe);
    forward::BlockWeights bw;
    bw.attn = attn.w;
    bw.ffn = moe.w;
    bw.hc_attn = MakeHc(mix, n, rng, storage);
    bw.hc_ffn = MakeHc(mix, n, rng, storage);
    bw.attn_norm = RandomBf16(static_cast<size_t>(c.dim), rng, 0.2f);
    bw.ffn_norm = RandomBf16(static_cast<size_t>(c.dim), rng, 0.2f);
    for (float& v : bw.attn_norm) v = forward::RoundBf16(v + 1.0f);
    for (float& v : bw.ffn_norm) v = forward::RoundBf16(v + 1.0f);
    DeviceBlock db = DeviceBlock::Create(
        shape, UploadAttention(attn.w, c, rope, tokens, stream), UploadMoe(moe.w, c, stream),
        DeviceHcWeights::Upload(bw.hc_attn.fn.rows_view(), mix, bw.hc_attn.base, bw.hc_attn.scale,
                                stream),
        DeviceHcWeights::Upload(bw.hc_ffn.fn.rows_view(), mix, bw.hc_ffn.base, bw.hc_ffn.scale,
                                stream),
        bw.attn_norm, bw.ffn_norm, stream);
    DeviceAttentionState dstate = DeviceAttentionState::Create(db.attn, stream);
    const std::string name = "block ratio " + std::to_string(ratio) + (hash ? " hash" : "");
    std::vector<float> cpu_all, gpu_all, last;
    std::uniform_int_distribution<int32_t> token_id(0, vocab - 1);
    for (int64_t pos = 0; pos < tokens; ++pos) {
      std::vector<float> h = RandomBf16(static_cast<size_t>(n), rng, 1.0f);
      const std::vector<int32_t> token = {token_id(rng)};
      DeviceBuffer dh = ToDevice(h, stream);
      const DeviceBuffer dtoken = ToDevice(token, stream);
      forward::BlockForward(bw, c, rope, pos, token.data(), 1, h.data(), attn.state, cx);
      BlockDecode(db, dstate, dh.as<float>(), pos, hash ? dtoken.as<int32_t>() : nullptr, stream);
      const std::vector<float> gpu = ToHost(dh, h.size(), stream);
      cpu_all.insert(cpu_all.end(), h.begin(), h.end());
      gpu_all.insert(gpu_all.end(), gpu.begin(), gpu.end());
      last = h;
    }
    ExpectContract(gpu_all, cpu_all, name + " streams", true);
    // The head on the CPU's last streams (so a last-bit difference above does not carry over).
    std::vector<float> cpu_logits(static_cast<size_t>(logits_n));
    forward::HeadForward(hc_head, norm, head, c, last.data(), 1, cpu_logits.data(), cx);
    const DeviceBuffer dlast = ToDevice(last, stream);
    DeviceBuffer dlogits(cpu_logits.size() * sizeof(float));
    HeadDecode(dhead, dlast.as<float>(), dlogits.as<float>(), stream);
    ExpectContract(ToHost(dlogits, cpu_logits.size(), stream), cpu_logits, name + " head logits",
                   false);
  }
}

// A block's decode steps chained as a model's step chains its blocks (block_step.h: each step
// leaves its MoE combine to the next one's first launch, HcCombinePostFnPreNorm; here a block
// follows itself, as cuda_decode_bench runs one) against the same steps unchained, the streams
// carried from token to token: after the last step (which combines its own output) the same
// streams, bit for bit. Run with side streams on and off; ctest runs it in the emulator's other
// schedules of streams too (the FFN's comb branch is joined at the step's end).
TEST(CudaForwardOpsTest, BlockDecodeChainedToTheNextStepGivesTheUnchainedBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(257);
  const ModelConfig c = SmallConfig(512);
  const int64_t vocab = 50, tokens = 10, hc = c.hc_mult, n = hc * c.dim;
  const int64_t mix = (2 + hc) * hc;
  HcKernelShape shape;
  shape.hc = hc;
  shape.dim = c.dim;
  shape.sinkhorn_iters = c.hc_sinkhorn_iters;
  shape.hc_eps = static_cast<float>(c.hc_eps);
  shape.norm_eps = static_cast<float>(c.norm_eps);
  std::vector<kernels::testing::RandomWeight> storage;
  const forward::Rope rope(c, true);
  HostAttention attn;
  MakeAttention(c, 4, rng, attn);
  HostMoe moe;
  MakeMoe(c, false, vocab, rng, moe);
  const forward::HcWeights hc_attn = MakeHc(mix, n, rng, storage);
  const forward::HcWeights hc_ffn = MakeHc(mix, n, rng, storage);
  std::vector<float> attn_norm = RandomBf16(static_cast<size_t>(c.dim), rng, 0.2f);
  std::vector<float> ffn_norm = RandomBf16(static_cast<size_t>(c.dim), rng, 0.2f);
  for (float& v : attn_norm) v = forward::RoundBf16(v + 1.0f);
  for (float& v : ffn_norm) v = forward::RoundBf16(v + 1.0f);
  const auto make_block = [&] {
    return DeviceBlock::Create(
        shape, UploadAttention(attn.w, c, rope, tokens, stream), UploadMoe(moe.w, c, stream),
        DeviceHcWeights::Upload(hc_attn.fn.rows_view(), mix, hc_attn.base, hc_attn.scale, stream),
        DeviceHcWeights::Upload(hc_ffn.fn.rows_view(), mix, hc_ffn.base, hc_ffn.scale, stream),
        attn_norm, ffn_norm, stream);
  };
  const std::vector<float> h0 = RandomBf16(static_cast<size_t>(n), rng, 1.0f);
  const auto run = [&](bool chained) {
    DeviceBlock b = make_block();
    DeviceAttentionState state = DeviceAttentionState::Create(b.attn, stream);
    DeviceBuffer h = ToDevice(h0, stream);
    for (int64_t pos = 0; pos < tokens; ++pos) {
      BlockDecode(b, state, h.as<float>(), pos, nullptr, stream, chained && pos > 0 ? &b : nullptr,
                  chained && pos + 1 < tokens);
    }
    return ToHost(h, h0.size(), stream);
  };
  const bool side_before = SideStreamsOn();
  for (const bool side : {true, false}) {
    SetSideStreams(side);
    const std::vector<float> want = run(false), got = run(true);
    ASSERT_NE(want, h0);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(test_support::Bits(got[i]), test_support::Bits(want[i]))
          << "stream value " << i << ", side streams " << (side ? "on" : "off");
    }
  }
  SetSideStreams(side_before);
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::forward_ops_test
