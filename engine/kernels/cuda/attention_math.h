// The arithmetic of the attention-side kernels (attention_ops.h), `__host__ __device__` like
// device_math.h and operation for operation what the CPU forward computes, so the device-free
// tests (tests/engine/kernels/cuda_forward_math_test.cc) run it on the host against the CPU code:
//   per-head RMSNorm     cpu/head_norm.h HeadRmsNormBf16
//   Hadamard rotation    cpu/quant_ops.h HadamardRotateBf16 (the same butterflies)
//   sparse attention     cpu/attention_ops.h SparseAttentionHead (blocks of 64, online
//                        softmax, bf16 probabilities, the sink in the denominator); split
//                        over CTAs (flash-decoding) it meets the `fast` contract instead
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

// The blocks of 64 of the entries index[0 .. n) run from a given state (every step above in
// sequence, one thread's view): what one CTA of the kernel computes over its split of the list.
// acc [hd] is the unnormalised P.V (relative to st.running_max).
inline void SparseAttentionBlocksBySteps(const float* q, const uint16_t* kv, const int32_t* index,
                                         int64_t n, int64_t hd, float scale, OnlineSoftmax& st,
                                         float* acc) {
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
}

// Host reference of the one-CTA-per-head schedule: the device-free tests compare it with
// cpu::SparseAttentionHead (the same bits). q [hd]; kv rows of hd bf16 bits; index [n] rows of
// kv (-1 masked); o [hd].
inline void SparseAttentionHeadBySteps(const float* q, const uint16_t* kv, const int32_t* index,
                                       int64_t n, int64_t hd, float sink, float scale, float* o,
                                       float* acc /* [hd] scratch */) {
  for (int64_t d = 0; d < hd; ++d) acc[d] = 0.0f;
  OnlineSoftmax st = NewOnlineSoftmax();
  SparseAttentionBlocksBySteps(q, kv, index, n, hd, scale, st, acc);
  const float denom = SinkDenominator(st, sink);
  for (int64_t d = 0; d < hd; ++d) o[d] = RoundBf16(acc[d] / denom);
}

// ---- flash-decoding: the index list split over several CTAs, then a combine ------------------
// Split s of a head takes the blocks [s * blocks_per_split, (s + 1) * blocks_per_split) of its
// list (the CPU's blocks of 64). The CPU rounds each block's probabilities to bf16 relative to
// the running max of every score so far, so a split cannot start from a fresh state (that moves
// the bf16 roundings: 2-ulp outputs, measured on the host). Three launches instead:
//   1. every split's score max (SplitScoreMax; the dots are the CPU's);
//   2. every split runs the CPU's block steps from a state whose running max is the max of the
//      earlier splits' maxima (SplitStartState): each block's max, probabilities and fp32 P.V
//      are then the CPU's bits; the split leaves its state and unnormalised accumulator;
//   3. the combine rescales every split to the overall max (the CPU's final running max) and sums
//      them in split order in double.
// With one split this is the CPU's arithmetic exactly (every weight is exp(0) = 1 and the double
// products are exact). With more, the accumulator of a split is rescaled once by
// exp(max_s - max) instead of block by block in fp32, a different rounding order: the `fast`
// contract (>= 99.9% of bf16 outputs identical, the rest within 1 ulp), not the same bits. The
// host test (cuda_attention_split_math_test.cc) counts both against the CPU.
// At most 16 splits: 64 heads x 16 = the CTA target, and the scratch stays 2.1 MB a layer.
constexpr int kAttentionMaxSplits = 16;  // bounds the scratch (SparseAttentionScratchFloats)
constexpr int64_t kAttentionTargetCtas = 1024;  // enough CTAs for ~8 per SM of an H200 (132 SMs)

struct AttentionSplitPlan {
  int splits;            // 1 .. kAttentionMaxSplits; 1 for an empty list
  int blocks_per_split;  // every split has at least one block
};
// The split of a list of n entries when `ctas_per_split` CTAs (heads x tokens) run each split:
// enough splits to reach about kAttentionTargetCtas CTAs, at most one per block.
DSAGENT_HD AttentionSplitPlan PlanAttentionSplits(int64_t n, int64_t ctas_per_split) {
  const int64_t blocks = (n + kAttentionBlock - 1) / kAttentionBlock;
  if (blocks <= 1 || ctas_per_split <= 0) return {1, 1};
  int64_t want = (kAttentionTargetCtas + ctas_per_split - 1) / ctas_per_split;
  if (want > kAttentionMaxSplits) want = kAttentionMaxSplits;
  if (want > blocks) want = blocks;
  if (want < 1) want = 1;
  const int64_t per = (blocks + want - 1) / want;
  return {static_cast<int>((blocks + per - 1) / per), static_cast<int>(per)};
}
// Phase 1 for one split of index[0 .. n): the max of its visible scores (-inf if none).
inline float SplitScoreMax(const float* q, const uint16_t* kv, const int32_t* index, int64_t n,
                           int64_t hd, float scale) {
  float m = NegInfF();
  for (int64_t j = 0; j < n; ++j) {
    if (index[j] < 0) continue;
    double dot = 0;
    for (int64_t d = 0; d < hd; ++d) {
      dot += static_cast<double>(q[d]) * static_cast<double>(Bf16ToFloat(kv[index[j] * hd + d]));
    }
    const float v = AttentionScore(dot, scale);
    if (RaisesMax(m, v)) m = v;
  }
  return m;
}
// Phase 2's starting state of split s: the running max the CPU holds when it reaches the split's
// first block (the max of the earlier splits' maxima, -inf for split 0), nothing summed yet.
DSAGENT_HD OnlineSoftmax SplitStartState(const float* split_max, int s) {
  float m = NegInfF();
  for (int i = 0; i < s; ++i) {
    if (RaisesMax(m, split_max[i])) m = split_max[i];
  }
  return {m, 0.0f};
}
// The largest running max of the splits' states (-inf when no split saw a visible entry).
DSAGENT_HD float CombinedMax(const OnlineSoftmax* part, int splits) {
  float m = NegInfF();
  for (int s = 0; s < splits; ++s) {
    if (RaisesMax(m, part[s].running_max)) m = part[s].running_max;
  }
  return m;
}
// A split's weight under the combined max: exp(max_s - max) in fp32; 0 for a split with nothing
// visible (its sum and accumulator are 0 anyway).
DSAGENT_HD float SplitWeight(float part_max, float max) {
  return part_max == NegInfF() ? 0.0f : ExpF(part_max - max);
}
// The combined state: the combined max and fp32 of the weighted sums in double, in split order.
DSAGENT_HD OnlineSoftmax CombinedState(const OnlineSoftmax* part, const float* weight, int splits,
                                       float max) {
  double sum = 0;
  for (int s = 0; s < splits; ++s) {
    sum += static_cast<double>(part[s].sum_exp) * static_cast<double>(weight[s]);
  }
  return {max, static_cast<float>(sum)};
}
// One combined accumulator value: fp32 of sum_s acc_s * weight_s in double, in split order;
// acc_s = acc[s * stride].
DSAGENT_HD float CombinedAccumulator(const float* acc, int64_t stride, const float* weight,
                                     int splits) {
  double sum = 0;
  for (int s = 0; s < splits; ++s) {
    if (weight[s] != 0.0f) sum += static_cast<double>(acc[s * stride]) * weight[s];
  }
  return static_cast<float>(sum);
}

// Host reference of the split schedule: the splits' maxima, each split's blocks by
// SparseAttentionBlocksBySteps from its start state, then the combine, as the three launches run
// them. acc: [splits * hd] scratch, part: [splits].
inline void SparseAttentionHeadBySplits(const float* q, const uint16_t* kv, const int32_t* index,
                                        int64_t n, int64_t hd, float sink, float scale,
                                        AttentionSplitPlan plan, float* o, float* acc,
                                        OnlineSoftmax* part) {
  const int64_t per = static_cast<int64_t>(plan.blocks_per_split) * kAttentionBlock;
  float split_max[kAttentionMaxSplits];
  for (int s = 0; s < plan.splits; ++s) {
    const int64_t begin = s * per, len = n - begin < per ? n - begin : per;
    split_max[s] = len > 0 ? SplitScoreMax(q, kv, index + begin, len, hd, scale) : NegInfF();
  }
  for (int s = 0; s < plan.splits; ++s) {
    float* a = acc + s * hd;
    for (int64_t d = 0; d < hd; ++d) a[d] = 0.0f;
    part[s] = SplitStartState(split_max, s);
    const int64_t begin = s * per, len = n - begin < per ? n - begin : per;
    if (len > 0) SparseAttentionBlocksBySteps(q, kv, index + begin, len, hd, scale, part[s], a);
  }
  const float max = CombinedMax(part, plan.splits);
  float weight[kAttentionMaxSplits];
  for (int s = 0; s < plan.splits; ++s) weight[s] = SplitWeight(part[s].running_max, max);
  const float denom = SinkDenominator(CombinedState(part, weight, plan.splits, max), sink);
  for (int64_t d = 0; d < hd; ++d) {
    o[d] = RoundBf16(CombinedAccumulator(acc + d, hd, weight, plan.splits) / denom);
  }
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
// One pass at `shift` (56, 48, .., 0): the bucket by RadixSelectBucket joins prefix and mask.
// Returns true when the selection is settled: the chosen bucket holds exactly `rank` keys, so
// every key in it is selected and `key >= prefix` (the lower bits 0) picks exactly k keys, the
// same k the remaining passes would settle on. With scores that differ the search ends after
// 2-3 of the 8 passes; only ties in the score go on to the index bytes. The last pass always
// ends it (distinct keys: the bucket holds one).
DSAGENT_HD bool RadixSelectPass(const uint32_t* histogram /* [256] */, int shift, uint32_t& rank,
                                uint64_t& prefix, uint64_t& mask) {
  const int bucket = RadixSelectBucket(histogram, rank);
  prefix |= static_cast<uint64_t>(bucket) << shift;
  mask |= static_cast<uint64_t>(255) << shift;
  return histogram[bucket] == rank;
}

// The keys at or above the prefix after a pass at `shift`: the k - rank above its chosen bucket
// and the bucket's own. Once they fit in the sort (TopKSortCapacity), the passes can stop: every
// one of them sorted by key, the first k are the selection the remaining passes would settle on.
// That stops a row whose k-th score ties with a few others (bf16 indexer scores do) after the
// score's bytes, where RadixSelectPass alone would go on through all 8 (4 more reads of every
// score). When the pass settles the selection they are exactly k.
DSAGENT_HD uint32_t RadixCandidates(const uint32_t* histogram /* [256] */, int shift,
                                    uint64_t prefix, uint32_t rank, uint32_t k) {
  return k - rank + histogram[(prefix >> shift) & 255u];
}
// The bitonic sort's length for `count` keys: the power of two at or above it.
DSAGENT_HD int64_t TopKSortLength(int64_t count) {
  int64_t length = 1;
  while (length < count) length *= 2;
  return length;
}
// The most keys the top-k sorts at its end (its shared memory): twice k's sort length, so that a
// tie at the k-th score need not take the index bytes' passes, up to 4,096 keys (32 KB; k above
// 2,048 keeps its own length, as before).
DSAGENT_HD int64_t TopKSortCapacity(int64_t k) {
  const int64_t length = TopKSortLength(k);
  return length >= 4096 ? length : (2 * length < 4096 ? 2 * length : 4096);
}

}  // namespace dsagent::engine::kernels::cuda
