// RunVectorSteps (engine/kernels/cuda/vector_steps.h) against the ops it stands for, run one after
// another on the device: the same bits, for each chain the attention runs through it (the KV row,
// a compressor's entries, the indexer's queries, the query heads) and for its parameter checks.
// Each op of the chain is tested against its CPU twin in cuda_ops_test.cc and
// cuda_forward_ops_test.cc. Without a device the tests skip, unless DSAGENT_REQUIRE_CUDA=1.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/forward/numerics.h"
#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/vector_steps.h"
#include "tests/engine/kernels/cuda_test_support.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels::cuda::vector_steps_test {
namespace {

using reference_rounding::RandomBf16Values;
using test_support::Bits;
using test_support::ToDevice;
using test_support::ToHost;

// RoPE frequencies as the model's table has them: 1 / 10000^(2i / dims).
std::vector<float> Frequencies(int64_t rope_dims) {
  std::vector<float> f(static_cast<size_t>(rope_dims / 2));
  for (size_t i = 0; i < f.size(); ++i) {
    f[i] = static_cast<float>(
        std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(rope_dims)));
  }
  return f;
}

// The vectors' values and bf16 stores after RunVectorSteps(steps), and after the ops one by one.
struct Chain {
  int64_t count = 0, n = 0;
  VectorSteps steps;
};

struct Results {
  std::vector<float> x;
  std::vector<uint16_t> bf16;
};

// The ops RunVectorSteps replaces, one launch each, in its order.
void RunOneByOne(float* x, const Chain& c, uint16_t* out, CudaStream& stream) {
  const VectorSteps& s = c.steps;
  if (s.norm_weight != nullptr) RmsNorm(x, c.count, c.n, s.norm_weight, s.eps, x, stream);
  if (s.head_norm) HeadRmsNorm(x, c.count, c.n, s.eps, stream);
  if (s.rope_dims > 0 && s.positions != nullptr) {
    RopeRotateRows(x, c.count / s.vectors_per_position, s.vectors_per_position, c.n, c.n,
                   s.rope_dims, s.freqs, s.positions, s.rope_inverse, stream);
  } else if (s.rope_dims > 0) {
    RopeRotate(x, c.count, c.n, c.n, s.rope_dims, s.freqs, s.pos, s.rope_inverse, stream);
  }
  if (s.hadamard) HadamardRotate(x, c.count, c.n, stream);
  if (s.quant_n > 0)
    ActQuantRows(x, c.count, s.quant_n, c.n, s.quant_block, s.quant_format, stream);
  if (out != nullptr) StoreBf16Bits(x, c.count * c.n, out, stream);
}

void ExpectSameBits(const std::vector<float>& x, Chain c, std::mt19937& rng,
                    const std::string& what) {
  CudaStream stream;
  const size_t size = static_cast<size_t>(c.count * c.n);
  const bool store = c.steps.bf16_out != nullptr;
  DeviceBuffer fused = ToDevice(x, stream), one_by_one = ToDevice(x, stream);
  // Stores filled with noise first, so that a value left unwritten shows.
  DeviceBuffer fused_out = ToDevice(RandomBf16Values(size, rng, 1.0f), stream);
  DeviceBuffer one_by_one_out = ToDevice(RandomBf16Values(size, rng, 1.0f), stream);
  if (store) c.steps.bf16_out = fused_out.as<uint16_t>();
  RunVectorSteps(fused.as<float>(), c.count, c.n, c.steps, stream);
  RunOneByOne(one_by_one.as<float>(), c, store ? one_by_one_out.as<uint16_t>() : nullptr, stream);
  const std::vector<float> got = ToHost<float>(fused, size, stream),
                           want = ToHost<float>(one_by_one, size, stream);
  ASSERT_NE(want, x) << what << ": the steps changed nothing";
  for (size_t i = 0; i < size; ++i) {
    ASSERT_EQ(Bits(got[i]), Bits(want[i])) << what << " value " << i;
  }
  if (!store) return;
  const std::vector<uint16_t> got_out = ToHost<uint16_t>(fused_out, size, stream),
                              want_out = ToHost<uint16_t>(one_by_one_out, size, stream);
  for (size_t i = 0; i < size; ++i) {
    ASSERT_EQ(got_out[i], want_out[i]) << what << " bf16 store " << i;
    ASSERT_EQ(got_out[i], forward::FloatToBf16Bits(want[i])) << what << " store of value " << i;
  }
}

// A norm's weight: bf16 values near 1.
std::vector<float> NormWeight(int64_t n, std::mt19937& rng) {
  std::vector<float> w = RandomBf16Values(static_cast<size_t>(n), rng, 0.1f);
  for (float& v : w) v = forward::RoundBf16(1.0f + v);
  return w;
}

// The KV row of a decode step (kv_norm, RoPE at pos, FP8 per 64 on the non-RoPE dims, into the
// cache as bf16) and the rows path's (each row at its position, no store).
TEST(VectorStepsTest, KvRowStepsGiveTheOpsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(431);
  const int64_t n = 512, rope = 64;
  const DeviceBuffer w = ToDevice(NormWeight(n, rng), stream),
                     freqs = ToDevice(Frequencies(rope), stream);
  const DeviceBuffer positions = ToDevice(std::vector<int32_t>{5, 6, 7, 1000}, stream);
  Chain c;
  c.n = n;
  c.steps.norm_weight = w.as<float>();
  c.steps.eps = 1e-6f;
  c.steps.rope_dims = rope;
  c.steps.freqs = freqs.as<float>();
  c.steps.quant_n = n - rope;
  c.steps.quant_block = 64;
  uint16_t* store = reinterpret_cast<uint16_t*>(1);  // replaced by ExpectSameBits
  c.count = 1;
  c.steps.pos = 8191;
  c.steps.bf16_out = store;
  ExpectSameBits(RandomBf16Values(n, rng, 3.0f), c, rng, "decode KV row");
  c.count = 4;
  c.steps.positions = positions.as<int32_t>();
  c.steps.bf16_out = nullptr;
  ExpectSameBits(RandomBf16Values(4 * n, rng, 3.0f), c, rng, "KV rows");

  // A batched step's KV rows, each stored into its position's slot of its own ring (bf16_rows,
  // rings of 8 rows): those slots hold the rows' bf16 bits, every other one is left as it was.
  const int64_t ring = 8;
  std::vector<DeviceBuffer> rings;
  std::vector<std::vector<uint16_t>> before;
  std::vector<uint16_t*> pointers;
  for (int r = 0; r < 4; ++r) {
    std::vector<uint16_t> noise;
    for (const float v : RandomBf16Values(static_cast<size_t>(ring * n), rng, 1.0f)) {
      noise.push_back(forward::FloatToBf16Bits(v));
    }
    before.push_back(noise);
    rings.push_back(ToDevice(before.back(), stream));
    pointers.push_back(rings.back().as<uint16_t>());
  }
  const DeviceBuffer table = ToDevice(pointers, stream);
  const std::vector<float> x = RandomBf16Values(4 * n, rng, 3.0f);
  DeviceBuffer stored = ToDevice(x, stream), plain = ToDevice(x, stream);
  VectorSteps into_rings = c.steps;
  into_rings.bf16_rows = table.as<uint16_t* const>();
  into_rings.bf16_ring = ring;
  RunVectorSteps(stored.as<float>(), 4, n, into_rings, stream);
  RunVectorSteps(plain.as<float>(), 4, n, c.steps, stream);
  const std::vector<float> values = ToHost<float>(plain, x.size(), stream);
  ASSERT_EQ(ToHost<float>(stored, x.size(), stream), values) << "the rows themselves";
  const int32_t slot_of[4] = {5 % ring, 6 % ring, 7 % ring, 1000 % ring};
  for (int r = 0; r < 4; ++r) {
    const std::vector<uint16_t> got =
        ToHost<uint16_t>(rings[static_cast<size_t>(r)], static_cast<size_t>(ring * n), stream);
    for (int64_t slot = 0; slot < ring; ++slot) {
      for (int64_t i = 0; i < n; ++i) {
        const size_t at = static_cast<size_t>(slot * n + i);
        const uint16_t want = slot == slot_of[r]
                                  ? forward::FloatToBf16Bits(values[static_cast<size_t>(r * n + i)])
                                  : before[static_cast<size_t>(r)][at];
        ASSERT_EQ(got[at], want) << "ring " << r << " slot " << slot << " value " << i;
      }
    }
  }
}

// A compressed entry: the KV compressor's (as the KV row) and the indexer's (norm, RoPE, Hadamard,
// FP4 per 32 over the whole vector), at each block's first position.
TEST(VectorStepsTest, CompressedEntryStepsGiveTheOpsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(431);
  const int64_t rope = 64;
  const DeviceBuffer positions = ToDevice(std::vector<int32_t>{0, 4, 8, 12, 16, 20}, stream);
  for (const bool indexer : {false, true}) {
    const int64_t n = indexer ? 128 : 512;
    const DeviceBuffer w = ToDevice(NormWeight(n, rng), stream),
                       freqs = ToDevice(Frequencies(rope), stream);
    Chain c;
    c.count = 6;
    c.n = n;
    c.steps.norm_weight = w.as<float>();
    c.steps.eps = 1e-6f;
    c.steps.rope_dims = rope;
    c.steps.freqs = freqs.as<float>();
    c.steps.positions = positions.as<int32_t>();
    c.steps.hadamard = indexer;
    c.steps.quant_n = indexer ? n : n - rope;
    c.steps.quant_block = indexer ? 32 : 64;
    c.steps.quant_format = indexer ? ActQuantFormat::kFp4 : ActQuantFormat::kFp8;
    c.steps.bf16_out = reinterpret_cast<uint16_t*>(1);
    ExpectSameBits(RandomBf16Values(static_cast<size_t>(c.count * n), rng, 2.0f), c, rng,
                   indexer ? "indexer entries" : "KV entries");
  }
}

// The indexer's query heads (RoPE, Hadamard, FP4 per 32; 4 heads a row, each row at its position)
// and the attention's (the weightless head norm and RoPE at pos; then the output's inverse RoPE).
TEST(VectorStepsTest, QueryHeadStepsGiveTheOpsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(431);
  const int64_t rope = 64;
  const DeviceBuffer freqs = ToDevice(Frequencies(rope), stream);
  const DeviceBuffer positions = ToDevice(std::vector<int32_t>{3, 4, 900}, stream);
  Chain indexer;
  indexer.count = 3 * 4;
  indexer.n = 128;
  indexer.steps.rope_dims = rope;
  indexer.steps.freqs = freqs.as<float>();
  indexer.steps.positions = positions.as<int32_t>();
  indexer.steps.vectors_per_position = 4;
  indexer.steps.hadamard = true;
  indexer.steps.quant_n = 128;
  indexer.steps.quant_block = 32;
  indexer.steps.quant_format = ActQuantFormat::kFp4;
  ExpectSameBits(RandomBf16Values(12 * 128, rng, 2.0f), indexer, rng, "indexer queries");
  Chain heads;
  heads.count = 5;
  heads.n = 512;
  heads.steps.head_norm = true;
  heads.steps.eps = 1e-6f;
  heads.steps.rope_dims = rope;
  heads.steps.freqs = freqs.as<float>();
  heads.steps.pos = 77;
  ExpectSameBits(RandomBf16Values(5 * 512, rng, 2.0f), heads, rng, "query heads");
  heads.steps.head_norm = false;
  heads.steps.rope_inverse = true;
  ExpectSameBits(RandomBf16Values(5 * 512, rng, 2.0f), heads, rng, "inverse RoPE");
  // Then FP8 per 128 over the whole vector (the block RmsNormQuant and HcPreNorm use), the RoPE
  // dims included: a warp's block holds values another warp rotated.
  heads.steps.quant_n = 512;
  heads.steps.quant_block = 128;
  ExpectSameBits(RandomBf16Values(5 * 512, rng, 2.0f), heads, rng, "inverse RoPE, FP8 per 128");
}

TEST(VectorStepsTest, RefusesStepsItCannotTake) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(431);
  DeviceBuffer x(4 * 512 * sizeof(float));
  const DeviceBuffer w = ToDevice(NormWeight(512, rng), stream),
                     freqs = ToDevice(Frequencies(64), stream);
  const auto refused = [&](VectorSteps s, int64_t n) {
    EXPECT_THROW(RunVectorSteps(x.as<float>(), 1, n, s, stream), CudaError);
  };
  VectorSteps both_norms;
  both_norms.norm_weight = w.as<float>();
  both_norms.head_norm = true;
  refused(both_norms, 512);
  VectorSteps odd_rope;
  odd_rope.rope_dims = 63;
  odd_rope.freqs = freqs.as<float>();
  refused(odd_rope, 512);
  VectorSteps no_freqs;
  no_freqs.rope_dims = 64;
  refused(no_freqs, 512);
  VectorSteps wide_rope;
  wide_rope.rope_dims = 64;
  wide_rope.freqs = freqs.as<float>();
  refused(wide_rope, 32);
  VectorSteps hadamard;
  hadamard.hadamard = true;
  refused(hadamard, 384);
  VectorSteps block;
  block.quant_n = 96;
  block.quant_block = 96;
  refused(block, 512);
  VectorSteps uneven;
  uneven.quant_n = 100;
  uneven.quant_block = 32;
  refused(uneven, 512);
  VectorSteps too_many;
  too_many.quant_n = 640;
  too_many.quant_block = 64;
  refused(too_many, 512);
  // A store into each vector's ring without the positions, without the ring's size, or beside
  // the plain store.
  uint16_t* const* rows = reinterpret_cast<uint16_t* const*>(x.as<float>());
  VectorSteps no_positions;
  no_positions.bf16_rows = rows;
  no_positions.bf16_ring = 8;
  refused(no_positions, 512);
  const DeviceBuffer positions = ToDevice(std::vector<int32_t>{3}, stream);
  VectorSteps no_ring;
  no_ring.bf16_rows = rows;
  no_ring.positions = positions.as<int32_t>();
  refused(no_ring, 512);
  VectorSteps two_stores = no_ring;
  two_stores.bf16_ring = 8;
  two_stores.bf16_out = reinterpret_cast<uint16_t*>(x.as<float>());
  refused(two_stores, 512);
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::vector_steps_test
