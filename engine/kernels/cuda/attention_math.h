// The arithmetic of the attention-side kernels (attention_ops.h), `__host__ __device__` like
// device_math.h and operation for operation what the CPU forward computes, so the device-free
// tests (tests/engine/kernels/cuda_forward_math_test.cc) run it on the host against the CPU code:
//   per-head RMSNorm     cpu/head_norm.h HeadRmsNormBf16
//   Hadamard rotation    cpu/quant_ops.h HadamardRotateBf16 (the same butterflies)
//   sparse attention     cpu/attention_ops.h SparseAttentionHead (blocks of 64, online
//                        softmax, bf16 probabilities, the sink in the denominator)
//   indexer scores       forward/indexer.h IndexerScores
//   stable top-k         forward/indexer.h StableTopK, as a selection on 64-bit keys
// The sums the kernels split across threads (the squares of a head, the q.K dots) add values
// whose products are exact in double (bf16 x bf16, FP4 x bf16), so they are exact or within an
// ulp of double in any order, far below the float/bf16 they are rounded to.
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// ---- per-head RMSNorm (weightless, every step in bf16) -------------------------------------
// One value's contribution to the sum of squares: bf16(q^2).
DSAGENT_HD float HeadNormSquare(float q) { return RoundBf16(q * q); }
// The factor every value of the head is multiplied by: bf16(rsqrt(bf16(bf16(sum / n) +
// bf16(eps)))), with the sum of HeadNormSquare in double.
DSAGENT_HD float HeadNormFactor(double sum, int64_t n, float eps) {
  const float mean = RoundBf16(static_cast<float>(sum / static_cast<double>(n)));
  const float var = RoundBf16(mean + RoundBf16(eps));
  return RoundBf16(static_cast<float>(1.0 / sqrt(static_cast<double>(var))));
}

// ---- Walsh-Hadamard rotation (Sylvester order), butterflies in double ----------------------
// Butterfly k (0 <= k < n/2) of the stage with span h (1, 2, 4, ..., n/2): the pair (i, i + h),
// i = (k / h) * 2h + k % h, becomes (a + b, a - b). The pairs of a stage are disjoint, so the
// kernel runs a stage's butterflies in parallel and gets the CPU's values exactly.
DSAGENT_HD void HadamardButterfly(double* v, int64_t h, int64_t k) {
  const int64_t i = (k / h) * 2 * h + k % h;
  const double a = v[i], b = v[i + h];
  v[i] = a + b;
  v[i + h] = a - b;
}
// The output value: bf16(v * n^-0.5) (the scale in double, the product rounded to float first).
DSAGENT_HD float HadamardOut(double v, int64_t n) {
  return RoundBf16(static_cast<float>(v * (1.0 / sqrt(static_cast<double>(n)))));
}

// ---- sparse attention with the sink --------------------------------------------------------
constexpr int kAttentionBlock = 64;  // index block of the reference kernel

// A score from the q.K dot (double): fp32(dot) * scale.
DSAGENT_HD float AttentionScore(double dot, float scale) { return static_cast<float>(dot) * scale; }

// One head's online-softmax state across the blocks of its index list.
struct OnlineSoftmax {
  float running_max;  // -inf until a visible entry is seen
  float sum_exp;
};
DSAGENT_HD OnlineSoftmax NewOnlineSoftmax() { return {NegInfF(), 0.0f}; }

// Whether score v raises the running max m (std::max over the visible scores: -inf = masked, a
// NaN never does). The block's max is the same whatever order the scores are taken in, up to
// the sign of a zero max, which no later step can tell apart (every use is a difference).
DSAGENT_HD bool RaisesMax(float m, float v) { return v != NegInfF() && m < v; }
// The running max after a block of bn scores.
DSAGENT_HD float BlockMax(float running_max, const float* score, int bn) {
  float m = running_max;
  for (int j = 0; j < bn; ++j) {
    if (RaisesMax(m, score[j])) m = score[j];
  }
  return m;
}
// One entry's probability in its block: exp(score - block_max) in fp32; 0 for a masked one.
DSAGENT_HD float BlockProbability(float score, float block_max) {
  return score == NegInfF() ? 0.0f : ExpF(score - block_max);
}
// A probability as P.V takes it: rounded to bf16, as a double; 0 (masked or underflowed) stays 0
// and is skipped.
DSAGENT_HD double ProbabilityForPv(float p) {
  return p == 0.0f ? 0.0 : static_cast<double>(RoundBf16(p));
}
// The state after a block whose max is block_max (not -inf) and probabilities p[0..bn): returns
// the rescale of the accumulator (0 before any visible entry); sum_exp adds the p summed in
// double in order, rounded to fp32.
DSAGENT_HD float SoftmaxStateStep(OnlineSoftmax& st, float block_max, const float* p, int bn) {
  const float rescale = st.running_max == NegInfF() ? 0.0f : ExpF(st.running_max - block_max);
  st.running_max = block_max;
  double psum = 0;
  for (int j = 0; j < bn; ++j) psum += p[j];
  st.sum_exp = st.sum_exp * rescale + static_cast<float>(psum);
  return rescale;
}

// One block of bn (<= 64) scores (-inf = masked), the steps above in sequence. Returns false when
// nothing is visible yet (the block changes nothing); otherwise sets `rescale` (what the
// accumulator is multiplied by) and pb[j] (ProbabilityForPv) and updates the state.
DSAGENT_HD bool SoftmaxBlockStep(const float* score, int bn, OnlineSoftmax& st, float& rescale,
                                 double* pb) {
  const float block_max = BlockMax(st.running_max, score, bn);
  if (block_max == NegInfF()) return false;
  float p[kAttentionBlock];
  for (int j = 0; j < bn; ++j) {
    p[j] = BlockProbability(score[j], block_max);
    pb[j] = ProbabilityForPv(p[j]);
  }
  rescale = SoftmaxStateStep(st, block_max, p, bn);
  return true;
}
// One accumulator value after a block: acc * rescale + fp32(pv), pv the block's P.V in double.
DSAGENT_HD float RescaledAccumulator(float acc, float rescale, double pv) {
  return acc * rescale + static_cast<float>(pv);
}
// The softmax denominator with the head's sink logit.
DSAGENT_HD float SinkDenominator(const OnlineSoftmax& st, float sink) {
  return st.sum_exp + (st.running_max == NegInfF() ? ExpF(sink) : ExpF(sink - st.running_max));
}

// Host reference of the kernel's schedule (one thread's view of each step, in sequence): the
// device-free tests compare it with cpu::SparseAttentionHead. q [hd]; kv rows of hd bf16
// bits; index [n] rows of kv (-1 masked); o [hd].
inline void SparseAttentionHeadBySteps(const float* q, const uint16_t* kv, const int32_t* index,
                                       int64_t n, int64_t hd, float sink, float scale, float* o,
                                       float* acc /* [hd] scratch */) {
  for (int64_t d = 0; d < hd; ++d) acc[d] = 0.0f;
  OnlineSoftmax st = NewOnlineSoftmax();
  float score[kAttentionBlock];
  double pb[kAttentionBlock];
  for (int64_t b0 = 0; b0 < n; b0 += kAttentionBlock) {
    const int bn = static_cast<int>(n - b0 < kAttentionBlock ? n - b0 : kAttentionBlock);
    for (int j = 0; j < bn; ++j) {
      const int32_t e = index[b0 + j];
      if (e < 0) {
        score[j] = NegInfF();
        continue;
      }
      double dot = 0;
      for (int64_t d = 0; d < hd; ++d) {
        dot += static_cast<double>(q[d]) * static_cast<double>(Bf16ToFloat(kv[e * hd + d]));
      }
      score[j] = AttentionScore(dot, scale);
    }
    float rescale = 0;
    if (!SoftmaxBlockStep(score, bn, st, rescale, pb)) continue;
    for (int64_t d = 0; d < hd; ++d) {
      double pv = 0;
      for (int j = 0; j < bn; ++j) {
        if (pb[j] != 0.0)
          pv += pb[j] * static_cast<double>(Bf16ToFloat(kv[index[b0 + j] * hd + d]));
      }
      acc[d] = RescaledAccumulator(acc[d], rescale, pv);
    }
  }
  const float denom = SinkDenominator(st, sink);
  for (int64_t d = 0; d < hd; ++d) o[d] = RoundBf16(acc[d] / denom);
}

// ---- lightning indexer ---------------------------------------------------------------------
// One head's term of an entry's score: bf16(max(0, bf16(dot)) * w) (std::max(0.0f, x): +0 for
// x <= 0).
DSAGENT_HD float IndexerHeadTerm(double dot, float head_weight) {
  const float s = RoundBf16(static_cast<float>(dot));
  return RoundBf16((0.0f < s ? s : 0.0f) * head_weight);
}
// The entry's score from the terms summed in double in head order.
DSAGENT_HD float IndexerScore(double sum) { return RoundBf16(static_cast<float>(sum)); }

// ---- stable top-k as a selection on distinct 64-bit keys -----------------------------------
// A float's bits mapped so that unsigned order is the float order (-0 and +0 equal, as the CPU's
// comparison treats them).
DSAGENT_HD uint32_t OrderedBits(float f) {
  uint32_t u = FloatBits(f);
  if (u == 0x80000000u) u = 0;  // -0 == +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
// Score first, then the lower index: descending key order is the stable sort's order
// (descending score, ties to the lower index), and every key is distinct.
DSAGENT_HD uint64_t TopKKey(float score, uint32_t index) {
  return (static_cast<uint64_t>(OrderedBits(score)) << 32) | static_cast<uint64_t>(~index);
}
DSAGENT_HD int32_t TopKKeyIndex(uint64_t key) {
  return static_cast<int32_t>(~static_cast<uint32_t>(key));
}

// One pass of the radix selection of the k-th largest key, 8 bits at a time from the top: given
// the histogram of the next byte among the keys that match the bits chosen so far, the bucket
// holding the k-th largest; `k` becomes its rank within that bucket.
DSAGENT_HD int RadixSelectBucket(const uint32_t* histogram /* [256] */, uint32_t& k) {
  for (int b = 255; b > 0; --b) {
    if (histogram[b] >= k) return b;
    k -= histogram[b];
  }
  return 0;
}

}  // namespace dsagent::engine::kernels::cuda
