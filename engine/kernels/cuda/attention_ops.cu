// SparseAttention on the device (attention_ops.h; HeadRmsNorm and HadamardRotate are the vector
// steps' kernel, vector_steps.cu); the arithmetic is attention_math.h's, shared with the host
// tests. One block per head; the attention stages each index block's KV rows in shared memory
// and, given a scratch, splits a decode token's list over several CTAs per head with a combine
// kernel after (flash-decoding; 2026-12-04, after the first GPU run timed the earlier version at
// 1.9 GB/s; neither change has run on a GPU yet). Given arrivals as well, the splits' maxima and
// the combine run in the splits' own launch (a look-back between the splits, then the last
// split's combine; session 34, not yet run on a GPU).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "engine/kernels/cuda/async_copy.cuh"
#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/chunk_lists_math.h"
#include "engine/kernels/cuda/division_walk.h"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/head_norm_cta.cuh"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/last_cta.cuh"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/rope_cta.cuh"
#include "engine/kernels/cuda/warp_butterfly.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

// One head's splits combined by one CTA: the splits' weights and the denominator by thread 0 (at
// most kAttentionMaxSplits exps), then every dim's weighted sum over the splits in split order
// into oh. part_acc: the splits' accumulators, hd apart; part: their states. With rope.dims > 0
// the head's output is then rotated back by RoPE (RopeKernel's inverse pairs) once every dim is
// written. Every thread of the CTA calls it (barriers).
__device__ void CombineSplitsCta(const float* part_acc, const OnlineSoftmax* part, int splits,
                                 int64_t hd, float sink, float* oh, const InverseRope& rope) {
  __shared__ float weight[kAttentionMaxSplits];
  __shared__ float denom;
  if (threadIdx.x == 0) {
    const float max = CombinedMax(part, splits);
    for (int s = 0; s < splits; ++s) weight[s] = SplitWeight(part[s].running_max, max);
    denom = SinkDenominator(CombinedState(part, weight, splits, max), sink);
  }
  __syncthreads();
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    oh[d] = RoundBf16(CombinedAccumulator(part_acc + d, hd, weight, splits) / denom);
  }
  if (rope.dims <= 0) return;  // uniform over the grid
  __syncthreads();             // a pair's two dims may be other threads'
  RopeVectorCta(oh + (hd - rope.dims), rope.dims / 2, rope.freqs, rope.pos, /*inverse=*/true);
}

// A lane's step of the warp's running max: a -inf or smaller score leaves it (RaisesMax).
struct KeepRunningMax {
  __device__ float operator()(float m, float other) const {
    return RaisesMax(m, other) ? other : m;
  }
};

constexpr int kDotRows = 4;  // the rows a warp's q.K dots take at once (BlockScoresCta)

// The look-back's largest split (in index blocks): its scores stay in shared memory between its
// two passes (8 KB). A longer split takes the separate max launch.
constexpr int kLookBackMaxBlocks = 32;

// A published split max: the marker bit over the float's bits, so that no value reads as 0 (not
// yet published).
constexpr unsigned long long kPublishedMax = 1ull << 32;

// The words a look-back launch synchronises on (SparseAttentionKernel; all in `arrivals`' memory,
// zero between launches): a ticket counter, and each (head, split)'s published score max.
struct SplitLookBack {
  unsigned* ticket = nullptr;
  unsigned long long* published = nullptr;  // null: no look-back
};

// Stages one index block's bn ids into `ids` and their KV rows into `rows` (entry e >= kStagedRow
// reads staged row e - kStagedRow; masked entries are left as they were). Every thread of the CTA
// calls it (barriers); the rows are there when it returns.
__device__ void StageBlockCta(const int32_t* index, int bn, const uint16_t* kv,
                              const uint16_t* staged, int64_t hd, bool vec16, int32_t* ids,
                              uint16_t* rows) {
  const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  for (int j = tid; j < bn; j += threads) ids[j] = index[j];
  __syncthreads();
  // Copy c of the block is (row c / per_row, piece c % per_row); the thread's copies walk c by
  // `threads` without a division each (division_walk.h: 16 division sequences a block for V4's
  // 64 rows of 512, each in front of its copy).
  const int per_row = static_cast<int>(vec16 ? hd / 8 : hd);  // 16-byte pieces, or elements
  const DivisionStride next = DivisionStride::Of(threads, per_row);
  Division at = Division::Of(tid, per_row);
  if (vec16) {
    // Every copy of the block in flight at once (async_copy.cuh): the loop's loads used to wait
    // one by one, 16 latencies a block for V4's 64 rows of 512.
    for (int c = tid; c < bn * per_row; c += threads, at.Next(next)) {
      const int32_t e = ids[at.quot];
      if (e >= 0) {
        const uint16_t* src = e >= kStagedRow ? staged + static_cast<int64_t>(e - kStagedRow) * hd
                                              : kv + static_cast<int64_t>(e) * hd;
        CopyAsync16(rows + static_cast<int64_t>(c) * 8, src + static_cast<int64_t>(at.rem) * 8);
      }
    }
    CopyAsyncWaitAll();
  } else {
    for (int c = tid; c < bn * per_row; c += threads, at.Next(next)) {
      const int32_t e = ids[at.quot];
      if (e >= 0) {
        const uint16_t* src = e >= kStagedRow ? staged + static_cast<int64_t>(e - kStagedRow) * hd
                                              : kv + static_cast<int64_t>(e) * hd;
        rows[c] = src[at.rem];
      }
    }
  }
  __syncthreads();
}

// The staged block's scores into score[0 .. bn) (-inf for a masked entry). A warp takes kDotRows
// rows at once (rows j0, j0 + warps, ...): their chains interleave, where one row at a time left
// each lane waiting on one fma chain and one shuffle tree. Each row's sum is taken in the same
// order (lane's dims in order, then the xor tree; the products are exact and so is their double
// sum). Every thread calls it; the scores are there when it returns.
__device__ void BlockScoresCta(const float* qs, const uint16_t* rows, const int32_t* ids, int bn,
                               int64_t hd, float scale, float* score) {
  const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  const int lane = tid & 31, warp = tid >> 5, warps = threads >> 5;
  for (int j0 = warp; j0 < bn; j0 += kDotRows * warps) {
    double dot[kDotRows];
    bool live[kDotRows];
#pragma unroll
    for (int r = 0; r < kDotRows; ++r) {
      const int j = j0 + r * warps;
      dot[r] = 0;
      live[r] = j < bn && ids[j] >= 0;  // uniform over the warp
    }
    for (int64_t d = lane; d < hd; d += 32) {
      const double qd = static_cast<double>(qs[d]);
#pragma unroll
      for (int r = 0; r < kDotRows; ++r) {
        if (live[r]) {
          const uint16_t* k = rows + static_cast<int64_t>(j0 + r * warps) * hd;
          dot[r] += qd * static_cast<double>(Bf16ToFloat(k[d]));
        }
      }
    }
    XorSumEach<32>(dot);
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kDotRows; ++r) {
        const int j = j0 + r * warps;
        if (j < bn) score[j] = ids[j] < 0 ? NegInfF() : AttentionScore(dot[r], scale);
      }
    }
  }
  __syncthreads();
}

// The running max after a block of bn scores (BlockMax's, by warp 0), in every thread; shared:
// where warp 0 leaves it. Every thread calls it (a barrier).
__device__ float BlockMaxCta(float running_max, const float* score, int bn, float* shared) {
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < 32) {
    float m = running_max;
    for (int j = tid; j < bn; j += 32) {
      if (RaisesMax(m, score[j])) m = score[j];
    }
    m = XorButterfly<32>(m, KeepRunningMax{});
    if (tid == 0) *shared = m;
  }
  __syncthreads();
  return *shared;
}

// One block per head. Per index block of 64: the block's ids and KV rows are staged in shared
// memory (StageBlockCta: 16-byte cp.async copies of the bf16 rows, all in flight at once), each
// warp takes whole q.K dots (BlockScoresCta), warp 0 finds the block's max, every thread one
// entry's probability, thread 0 the state's update (the probabilities summed in order); then each
// thread accumulates P.V for its dims in index order (the CPU's order: the same bits).
// Grid: (heads, tokens, splits). Token t's list is index[list_begin[t] .. list_begin[t+1]), or
// (rows mode, row_n set) index[t * list_stride .. + row_n[t]) — over KV rows row_kv[t] instead
// of kv when row_kv is set (several sequences' rows) — or the one list index[0 .. n) when both
// are null. An entry e >= kStagedRow reads staged row e - kStagedRow instead of kv row
// e (chunk_lists_math.h). Dynamic shared memory: q and acc (hd floats each), then
// kAttentionBlock rows of hd bf16, then (look-back) the split's scores. vec16: kv, staged and hd
// allow 16-byte row loads.
// split_max null: one split, the output written here (the CPU's bits). Otherwise split z takes
// the entries [z * per_split, (z + 1) * per_split); slot (t * heads + head) * splits + z:
//   max_only (phase 1): only the dots and block maxima; the split's score max -> split_max[slot];
//   else (phase 2): from SplitStartState(split_max), the whole step; the state and accumulator ->
//   part_state / part_acc for SparseAttentionCombineKernel (attention_math.h, flash-decoding), or,
//   with arrivals ([tokens * heads] counts, zero between launches), combined by the head's last
//   split to finish (last_cta.cuh) with `rope` undone there: no launch of its own.
//   With look_back.published as well, phase 1 is this launch's first pass: each CTA takes its
//   (head, token, split) from a ticket, the split slowest (the order CTAs start in, so that every
//   split it waits for is running or done: no CTA waits for one that cannot start), finds its
//   split's scores and max (kept in shared memory), publishes the max, reads the earlier splits'
//   (waiting for each to appear), and runs phase 2 from those scores: the same bits as the two
//   launches, the dots and one launch fewer. The head's last split clears its published maxima;
//   the ticket's last taker resets it.
// In rows mode each row is split as a decode step's list of its length is
// (PlanAttentionSplits(n, heads)), its slots kAttentionMaxSplits apart; the CTAs past a row's
// splits, and in phase 1 a row of one split, do nothing.
__global__ void SparseAttentionKernel(
    const float* q, int64_t heads, int64_t hd, const uint16_t* kv, const uint16_t* const* row_kv,
    const uint16_t* staged, const int32_t* index, const int64_t* list_begin, const int32_t* row_n,
    int64_t list_stride, int64_t n, const float* sink, float scale, float* o, bool vec16,
    int64_t per_split, float* split_max, bool max_only, float* part_acc, OnlineSoftmax* part_state,
    unsigned* arrivals, SplitLookBack look_back, InverseRope rope, QueryPrep prep) {
  AwaitPreviousKernel();
  extern __shared__ __align__(16) unsigned char smem[];
  float* qs = reinterpret_cast<float*>(smem);                              // [hd]
  float* acc = qs + hd;                                                    // [hd]
  uint16_t* rows = reinterpret_cast<uint16_t*>(acc + ((hd + 3) / 4) * 4);  // [64][hd], 16-aligned
  __shared__ float score[kAttentionBlock], prob[kAttentionBlock];
  __shared__ double pb[kAttentionBlock];
  __shared__ int32_t ids[kAttentionBlock];
  __shared__ OnlineSoftmax state;
  __shared__ float rescale, denom, block_max;
  __shared__ unsigned role;
  const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  int64_t head = blockIdx.x, t = blockIdx.y;
  int z = static_cast<int>(blockIdx.z);
  bool split = split_max != nullptr;
  bool lb = split && look_back.published != nullptr;  // uniform over the grid
  if (lb) {
    if (tid == 0) {
      const unsigned ctas = gridDim.x * gridDim.y * gridDim.z;
      const unsigned ticket = atomicAdd(look_back.ticket, 1u);
      if (ticket == ctas - 1) atomicExch(look_back.ticket, 0u);  // every CTA has its ticket
      role = ticket;
    }
    __syncthreads();
    head = role % gridDim.x;
    t = (role / gridDim.x) % gridDim.y;
    z = static_cast<int>(role / (gridDim.x * gridDim.y));
  }
  const float* qh = q + (t * heads + head) * hd;
  if (rope.positions != nullptr) rope.pos = rope.positions[t];  // rows mode: this row's
  int64_t slot_stride = gridDim.z;
  int splits = static_cast<int>(gridDim.z);  // this list's
  if (row_n != nullptr) {
    index += t * list_stride;
    n = row_n[t];
    if (row_kv != nullptr) kv = row_kv[t];
    const AttentionSplitPlan plan =
        split ? PlanAttentionSplits(n, heads) : AttentionSplitPlan{1, 1};
    if (z >= plan.splits) return;  // uniform over the CTA
    split = plan.splits > 1;
    lb = lb && split;
    if (max_only && !split) return;
    splits = plan.splits;
    per_split = static_cast<int64_t>(plan.blocks_per_split) * kAttentionBlock;
    slot_stride = kAttentionMaxSplits;
  } else if (list_begin != nullptr) {
    index += list_begin[t];
    n = list_begin[t + 1] - list_begin[t];
  }
  const int64_t slot = (t * heads + head) * slot_stride + z;
  if (split) {
    const int64_t begin = static_cast<int64_t>(z) * per_split;
    index += begin;
    n = n - begin < per_split ? n - begin : per_split;
  }
  for (int64_t d = tid; d < hd; d += threads) {
    qs[d] = qh[d];
    acc[d] = 0.0f;
  }
  if (prep.head_norm) {  // uniform over the grid
    // The query's steps on this CTA's copy of its head; the norm's partials where the first
    // block's rows go (free until then).
    __syncthreads();
    HeadRmsNormCta<kThreads>(qs, hd, prep.eps, reinterpret_cast<double*>(rows));
    __syncthreads();
    RopeVectorCta(qs + (hd - prep.rope_dims), prep.rope_dims / 2, prep.freqs,
                  prep.positions != nullptr ? prep.positions[t] : prep.pos, false);
  }
  if (tid == 0) {
    state =
        split && !max_only && !lb ? SplitStartState(split_max + (slot - z), z) : NewOnlineSoftmax();
  }
  // The look-back's scores, a block's 64 apart, after the staged rows.
  float* split_scores = reinterpret_cast<float*>(rows + kAttentionBlock * hd);
  if (max_only || lb) {
    // Phase 1, or the look-back's first pass: the dots and the running max.
    for (int64_t b0 = 0; b0 < n; b0 += kAttentionBlock) {
      const int bn = static_cast<int>(n - b0 < kAttentionBlock ? n - b0 : kAttentionBlock);
      StageBlockCta(index + b0, bn, kv, staged, hd, vec16, ids, rows);  // (first) qs, state
      float* sc = lb ? split_scores + b0 : score;
      BlockScoresCta(qs, rows, ids, bn, hd, scale, sc);
      const float bmax = BlockMaxCta(state.running_max, sc, bn, &block_max);
      if (tid == 0 && bmax != NegInfF()) state.running_max = bmax;
      __syncthreads();  // also: ids and rows are rewritten by the next block
    }
    if (max_only) {
      if (tid == 0) split_max[slot] = state.running_max;
      return;
    }
    // Publish this split's max, then wait for every earlier split's (they hold earlier tickets:
    // running or done, and each publishes before it waits for anything).
    __shared__ float earlier[kAttentionMaxSplits];
    unsigned long long* published = look_back.published + (slot - z);
    if (tid == 0) atomicExch(&published[z], kPublishedMax | FloatBits(state.running_max));
    if (tid < z) {
      unsigned long long word;
      while ((word = atomicAdd(&published[tid], 0ull)) == 0) {
      }
      earlier[tid] = BitsFloat(static_cast<uint32_t>(word));
    }
    __syncthreads();
    if (tid == 0) state = SplitStartState(earlier, z);
    __syncthreads();
  }
  // With one block the look-back's first pass left its rows staged.
  const bool staged_once = lb && n <= kAttentionBlock;
  for (int64_t b0 = 0; b0 < n; b0 += kAttentionBlock) {
    const int bn = static_cast<int>(n - b0 < kAttentionBlock ? n - b0 : kAttentionBlock);
    if (!staged_once) StageBlockCta(index + b0, bn, kv, staged, hd, vec16, ids, rows);
    const float* sc = lb ? split_scores + b0 : score;
    if (!lb) BlockScoresCta(qs, rows, ids, bn, hd, scale, score);
    const float bmax = BlockMaxCta(state.running_max, sc, bn, &block_max);
    if (bmax != NegInfF()) {  // uniform: nothing visible yet changes nothing
      for (int j = tid; j < bn; j += threads) {
        const float p = BlockProbability(sc[j], bmax);
        prob[j] = p;
        pb[j] = ProbabilityForPv(p);
      }
      __syncthreads();
      if (tid == 0) rescale = SoftmaxStateStep(state, bmax, prob, bn);
      __syncthreads();
      const float rs = rescale;
      // Two dims a pass (d and d + threads): two independent chains in flight, each summed over
      // the block's entries in index order as before.
      for (int64_t d0 = tid; d0 < hd; d0 += 2 * threads) {
        const int64_t d1 = d0 + threads;
        const bool two = d1 < hd;
        double pv0 = 0, pv1 = 0;
        for (int j = 0; j < bn; ++j) {
          const double p = pb[j];
          if (p == 0.0) continue;
          const uint16_t* row = rows + static_cast<int64_t>(j) * hd;
          pv0 += p * static_cast<double>(Bf16ToFloat(row[d0]));
          if (two) pv1 += p * static_cast<double>(Bf16ToFloat(row[d1]));
        }
        acc[d0] = RescaledAccumulator(acc[d0], rs, pv0);
        if (two) acc[d1] = RescaledAccumulator(acc[d1], rs, pv1);
      }
    }
    __syncthreads();  // ids, rows, score and pb are rewritten by the next block
  }
  if (split) {
    for (int64_t d = tid; d < hd; d += threads) part_acc[slot * hd + d] = acc[d];
    if (tid == 0) part_state[slot] = state;
    if (arrivals == nullptr) return;  // SparseAttentionCombineKernel combines them
    if (!LastCtaToArrive(&arrivals[t * heads + head], static_cast<unsigned>(splits))) return;
    // The head's last split to finish combines them all: their states and accumulators into
    // shared memory first (volatile loads: other CTAs' writes), the staged rows' room.
    __shared__ OnlineSoftmax parts[kAttentionMaxSplits];
    const int64_t slot0 = slot - z;
    // Every split of the head has read the maxima it waited for: clear them for the next launch.
    if (lb && tid < splits) atomicExch(&look_back.published[slot0 + tid], 0ull);
    float* accs = reinterpret_cast<float*>(rows);  // [splits][hd]: room for 32 x hd floats
    const volatile float* from_acc = part_acc + slot0 * hd;
    for (int64_t i = tid; i < splits * hd; i += threads) accs[i] = from_acc[i];
    if (tid < splits) {
      const volatile OnlineSoftmax& from = part_state[slot0 + tid];
      parts[tid].running_max = from.running_max;
      parts[tid].sum_exp = from.sum_exp;
    }
    __syncthreads();
    CombineSplitsCta(accs, parts, splits, hd, sink[head], o + (t * heads + head) * hd, rope);
    return;
  }
  if (tid == 0) denom = SinkDenominator(state, sink[head]);
  __syncthreads();
  float* oh = o + (t * heads + head) * hd;
  for (int64_t d = tid; d < hd; d += threads) oh[d] = RoundBf16(acc[d] / denom);
  if (rope.dims <= 0) return;  // uniform over the grid
  __syncthreads();             // a pair's two dims may be other threads'
  RopeVectorCta(oh + (hd - rope.dims), rope.dims / 2, rope.freqs, rope.pos, /*inverse=*/true);
}

// One block per (head, token): CombineSplitsCta. Rows mode (row_n set): each row's own split
// count (a row of one split wrote its output itself), slots kAttentionMaxSplits apart.
__global__ void SparseAttentionCombineKernel(const float* part_acc, const OnlineSoftmax* part_state,
                                             int splits, const int32_t* row_n, int64_t heads,
                                             int64_t hd, const float* sink, float* o,
                                             InverseRope rope) {
  AwaitPreviousKernel();
  const int64_t head = blockIdx.x, t = blockIdx.y;
  if (rope.positions != nullptr) rope.pos = rope.positions[t];  // rows mode: this row's
  int64_t slot_stride = splits;
  if (row_n != nullptr) {
    splits = PlanAttentionSplits(row_n[t], heads).splits;
    if (splits <= 1) return;  // uniform over the CTA
    slot_stride = kAttentionMaxSplits;
  }
  const int64_t slot0 = (t * heads + head) * slot_stride;
  CombineSplitsCta(part_acc + slot0 * hd, part_state + slot0, splits, hd, sink[head],
                   o + (t * heads + head) * hd, rope);
}

// The attention kernel's dynamic shared memory (opted in above 48 KB): room for head dims up to
// 1024 (V4's are 512).
constexpr size_t kAttentionSharedBytesMax = 160 * 1024;
constexpr int64_t kAttentionMaxHeadDim = 1024;

}  // namespace

namespace {
// q and acc, then the staged rows of one index block (SparseAttentionKernel), then a look-back
// split's scores (look_back_blocks blocks of them).
size_t AttentionSharedBytes(int64_t head_dim, int look_back_blocks = 0) {
  return static_cast<size_t>(2 * ((head_dim + 3) / 4) * 4 * 4 + kAttentionBlock * head_dim * 2 +
                             static_cast<int64_t>(look_back_blocks) * kAttentionBlock * 4);
}

// Where SparseAttention's arrivals memory (SparseAttentionArrivalsBytes) keeps the look-back's
// words: the lists' counts (`lists` = heads x rows), the ticket, then (8-byte aligned) lists x
// kAttentionMaxSplits maxima.
SplitLookBack LookBackWords(unsigned* arrivals, int64_t lists) {
  SplitLookBack words;
  words.ticket = arrivals + lists;
  words.published = reinterpret_cast<unsigned long long*>(arrivals + ((lists + 2) / 2) * 2);
  return words;
}

// A head_dim whose block of rows fits the kernel's shared memory on this device (V4's 512 takes
// 68 KB: every device since sm_80 holds it). Throws CudaError.
void CheckAttentionHeadDim(int64_t head_dim, const char* op) {
  const int64_t limit = std::min<int64_t>(kAttentionSharedBytesMax, DeviceSharedBytesOptIn());
  if (head_dim <= 0 || head_dim > kAttentionMaxHeadDim ||
      static_cast<int64_t>(AttentionSharedBytes(head_dim, kLookBackMaxBlocks)) > limit) {
    throw CudaError(std::string(op) + ": head_dim " + std::to_string(head_dim) +
                    " is outside 1 .. " + std::to_string(kAttentionMaxHeadDim) +
                    " or its block of rows is past the device's " + std::to_string(limit) +
                    " bytes of shared memory");
  }
}

// The query's steps a launch can take (QueryPrep): RoPE dims even, with frequencies, at most the
// head; the norm's partials fit where the first block's rows go (head_dim at least 16); one
// position for all, or (`rows`) each row's. Throws CudaError naming `who`.
void CheckQueryPrep(const QueryPrep& prep, int64_t head_dim, bool one_position, const char* who) {
  if (prep.head_norm &&
      ((one_position ? prep.positions != nullptr : prep.positions == nullptr) ||
       prep.rope_dims < 0 || prep.rope_dims % 2 != 0 || prep.rope_dims > head_dim ||
       (prep.rope_dims > 0 && prep.freqs == nullptr) ||
       kAttentionBlock * head_dim * 2 < kThreads * static_cast<int64_t>(sizeof(double)))) {
    throw CudaError(std::string(who) + ": the query's steps on " + std::to_string(prep.rope_dims) +
                    " RoPE dims of " + std::to_string(head_dim) +
                    " (even, with frequencies, head_dim at least 16, " +
                    (one_position ? "one token" : "each row's position") + ")");
  }
}

void LaunchSparseAttention(const float* q, int64_t tokens, int64_t heads, int64_t head_dim,
                           const uint16_t* kv, const int32_t* index, const int64_t* list_begin,
                           int64_t n, const float* sink, float scale, float* o, CudaStream& stream,
                           float* split_scratch, const InverseRope& rope, unsigned* arrivals,
                           const QueryPrep& prep) {
  CheckQueryPrep(prep, head_dim, tokens == 1, "SparseAttention");
  if (rope.dims < 0 || rope.dims % 2 != 0 || rope.dims > head_dim ||
      (rope.dims > 0 && (rope.freqs == nullptr || tokens != 1))) {
    throw CudaError("SparseAttention: RoPE on " + std::to_string(rope.dims) + " of " +
                    std::to_string(head_dim) + " dims (even, with frequencies, one token)");
  }
  CheckAttentionHeadDim(head_dim, "SparseAttention");
  if (heads <= 0 || tokens <= 0) return;
  if (tokens > 65535) {
    throw CudaError("SparseAttention: " + std::to_string(tokens) +
                    " tokens in one call (at most 65535)");
  }
  static SharedMemoryOptIn opt_in;
  AllowDynamicSharedMemory(reinterpret_cast<const void*>(SparseAttentionKernel),
                           static_cast<int>(kAttentionSharedBytesMax), opt_in);
  const bool vec16 = head_dim % 8 == 0 && reinterpret_cast<uintptr_t>(kv) % 16 == 0;
  // Split only a single list (decode): the per-token lists of prefill have their own lengths.
  const AttentionSplitPlan plan = split_scratch != nullptr && list_begin == nullptr
                                      ? PlanAttentionSplits(n, heads * tokens)
                                      : AttentionSplitPlan{1, 1};
  const bool split = plan.splits > 1;
  // The scratch (SparseAttentionScratchFloats): accumulators, states, split maxima.
  const int64_t slots = heads * kAttentionMaxSplits;
  float* part_acc = split ? split_scratch : nullptr;
  OnlineSoftmax* part_state =
      split ? reinterpret_cast<OnlineSoftmax*>(split_scratch + slots * head_dim) : nullptr;
  float* split_max = split ? split_scratch + slots * (head_dim + 2) : nullptr;
  const int64_t per_split = static_cast<int64_t>(plan.blocks_per_split) * kAttentionBlock;
  const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(tokens),
                  static_cast<unsigned>(plan.splits));
  // A split list combined by its last split finds the splits' maxima in the same launch when
  // each split's scores fit in shared memory (the look-back), else in a launch before.
  const bool look_back =
      split && arrivals != nullptr && tokens == 1 && plan.blocks_per_split <= kLookBackMaxBlocks;
  const size_t shared = AttentionSharedBytes(head_dim, look_back ? plan.blocks_per_split : 0);
  if (split && !look_back) {
    LaunchKernel(SparseAttentionKernel, "SparseAttentionKernel", grid, kThreads, shared,
                 Raw(stream), q, heads, head_dim, kv, nullptr, nullptr, index, list_begin, nullptr,
                 0, n, sink, scale, o, vec16, per_split, split_max, true, part_acc, part_state,
                 nullptr, SplitLookBack{}, InverseRope{}, prep);
    CheckCuda(cudaGetLastError(), "SparseAttention split maxima launch");
  }
  // RoPE undone in this launch by a split head's last split, or an unsplit head's CTA (fused
  // steps on), else after.
  const bool rope_here = split ? arrivals != nullptr : FusedStepsOn();
  LaunchKernel(SparseAttentionKernel, "SparseAttentionKernel", grid, kThreads, shared, Raw(stream),
               q, heads, head_dim, kv, nullptr, nullptr, index, list_begin, nullptr, 0, n, sink,
               scale, o, vec16, per_split, split_max, false, part_acc, part_state,
               split ? arrivals : nullptr,
               look_back ? LookBackWords(arrivals, heads) : SplitLookBack{},
               rope_here ? rope : InverseRope{}, prep);
  CheckCuda(cudaGetLastError(), "SparseAttention launch");
  if (split && arrivals != nullptr) return;  // combined by each head's last split
  if (!split) {
    if (rope.dims > 0 && !rope_here) {
      RopeRotate(o, heads, head_dim, head_dim, rope.dims, rope.freqs, rope.pos, true, stream);
    }
    return;
  }
  const dim3 combine_grid(static_cast<unsigned>(heads), static_cast<unsigned>(tokens));
  LaunchKernel(SparseAttentionCombineKernel, "SparseAttentionCombineKernel", combine_grid, kThreads,
               0, Raw(stream), part_acc, part_state, plan.splits, nullptr, heads, head_dim, sink, o,
               rope);
  CheckCuda(cudaGetLastError(), "SparseAttention combine launch");
}
}  // namespace

void SparseAttention(const float* q, int64_t heads, int64_t head_dim, const uint16_t* kv,
                     const int32_t* index, int64_t n, const float* sink, float scale, float* o,
                     CudaStream& stream, float* split_scratch, const InverseRope& rope,
                     unsigned* arrivals, const QueryPrep& prep) {
  LaunchSparseAttention(q, 1, heads, head_dim, kv, index, nullptr, n, sink, scale, o, stream,
                        split_scratch, rope, FusedStepsOn() ? arrivals : nullptr, prep);
}

int64_t SparseAttentionArrivalsBytes(int64_t heads) {
  // The counts and the ticket, rounded up to 8 bytes, then the published maxima.
  return ((heads + 2) / 2) * 8 + heads * kAttentionMaxSplits * 8;
}

int64_t SparseAttentionRowsArrivalsBytes(int64_t rows, int64_t heads) {
  return SparseAttentionArrivalsBytes(rows * heads);
}

int64_t SparseAttentionScratchFloats(int64_t heads, int64_t head_dim) {
  // Accumulators, the states (2 floats each, OnlineSoftmax), the split maxima.
  return heads * kAttentionMaxSplits * (head_dim + 3);
}

int64_t SparseAttentionRowsScratchFloats(int64_t rows, int64_t heads, int64_t head_dim) {
  return rows * SparseAttentionScratchFloats(heads, head_dim);
}

int SparseAttentionRowSplits(int64_t n, int64_t heads) {
  return PlanAttentionSplits(n, heads).splits;
}

void SparseAttentionRows(const float* q, int64_t rows, int64_t heads, int64_t head_dim,
                         const uint16_t* kv, const uint16_t* staged, const int32_t* index,
                         int64_t list_stride, const int32_t* row_n, int max_splits,
                         const float* sink, float scale, float* o, CudaStream& stream,
                         float* split_scratch, const uint16_t* const* row_kv, unsigned* arrivals,
                         const InverseRope& rope, const QueryPrep& prep) {
  CheckAttentionHeadDim(head_dim, "SparseAttentionRows");
  CheckQueryPrep(prep, head_dim, false, "SparseAttentionRows");
  if (rope.dims < 0 || rope.dims % 2 != 0 || rope.dims > head_dim ||
      (rope.dims > 0 && (rope.freqs == nullptr || rope.positions == nullptr))) {
    throw CudaError("SparseAttentionRows: RoPE on " + std::to_string(rope.dims) + " of " +
                    std::to_string(head_dim) + " dims (even, with frequencies and positions)");
  }
  if (heads <= 0 || rows <= 0) return;
  if (rows > 65535) {
    throw CudaError("SparseAttentionRows: " + std::to_string(rows) +
                    " rows in one call (at most 65535)");
  }
  if (max_splits < 1 || max_splits > kAttentionMaxSplits) {
    throw CudaError("SparseAttentionRows: " + std::to_string(max_splits) + " splits (1 to " +
                    std::to_string(kAttentionMaxSplits) + ")");
  }
  static SharedMemoryOptIn opt_in;
  AllowDynamicSharedMemory(reinterpret_cast<const void*>(SparseAttentionKernel),
                           static_cast<int>(kAttentionSharedBytesMax), opt_in);
  // Per-row caches are whole device allocations (aligned far past 16 bytes).
  const bool vec16 = head_dim % 8 == 0 && reinterpret_cast<uintptr_t>(kv) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(staged) % 16 == 0;
  const bool split = split_scratch != nullptr && max_splits > 1;
  // The scratch (SparseAttentionRowsScratchFloats): accumulators, states, split maxima, each
  // kAttentionMaxSplits slots per (row, head).
  const int64_t slots = rows * heads * kAttentionMaxSplits;
  float* part_acc = split ? split_scratch : nullptr;
  OnlineSoftmax* part_state =
      split ? reinterpret_cast<OnlineSoftmax*>(split_scratch + slots * head_dim) : nullptr;
  float* split_max = split ? split_scratch + slots * (head_dim + 2) : nullptr;
  const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(rows),
                  static_cast<unsigned>(split ? max_splits : 1));
  // Each row's splits combined by its last (given arrivals, unless FusedStepsOn() says no), their
  // maxima by the look-back when a list as long as the stride allows would fit it (a row's
  // blocks per split grow with its length).
  unsigned* combine = split && FusedStepsOn() ? arrivals : nullptr;
  const int stride_blocks = PlanAttentionSplits(list_stride, heads).blocks_per_split;
  const bool look_back = combine != nullptr && stride_blocks <= kLookBackMaxBlocks;
  const size_t shared = AttentionSharedBytes(head_dim, look_back ? stride_blocks : 0);
  if (split && !look_back) {
    LaunchKernel(SparseAttentionKernel, "SparseAttentionKernel", grid, kThreads, shared,
                 Raw(stream), q, heads, head_dim, kv, row_kv, staged, index, nullptr, row_n,
                 list_stride, 0, sink, scale, o, vec16, 0, split_max, true, part_acc, part_state,
                 nullptr, SplitLookBack{}, InverseRope{}, prep);
    CheckCuda(cudaGetLastError(), "SparseAttentionRows split maxima launch");
  }
  // RoPE undone by each row's combine or its heads' CTAs (fused steps on), else after.
  const bool rope_here = FusedStepsOn();
  LaunchKernel(SparseAttentionKernel, "SparseAttentionKernel", grid, kThreads, shared, Raw(stream),
               q, heads, head_dim, kv, row_kv, staged, index, nullptr, row_n, list_stride, 0, sink,
               scale, o, vec16, 0, split_max, false, part_acc, part_state, combine,
               look_back ? LookBackWords(arrivals, rows * heads) : SplitLookBack{},
               rope_here ? rope : InverseRope{}, prep);
  CheckCuda(cudaGetLastError(), "SparseAttentionRows launch");
  if (split && combine == nullptr) {
    const dim3 combine_grid(static_cast<unsigned>(heads), static_cast<unsigned>(rows));
    LaunchKernel(SparseAttentionCombineKernel, "SparseAttentionCombineKernel", combine_grid,
                 kThreads, 0, Raw(stream), part_acc, part_state, 0, row_n, heads, head_dim, sink, o,
                 rope_here ? rope : InverseRope{});
    CheckCuda(cudaGetLastError(), "SparseAttentionRows combine launch");
  }
  if (rope.dims > 0 && !rope_here) {
    RopeRotateRows(o, rows, heads, head_dim, head_dim, rope.dims, rope.freqs, rope.positions, true,
                   stream);
  }
}

void SparseAttentionTokens(const float* q, int64_t tokens, int64_t heads, int64_t head_dim,
                           const uint16_t* kv, const int32_t* index, const int64_t* list_begin,
                           const float* sink, float scale, float* o, CudaStream& stream) {
  LaunchSparseAttention(q, tokens, heads, head_dim, kv, index, list_begin, 0, sink, scale, o,
                        stream, nullptr, InverseRope{}, nullptr, QueryPrep{});
}

}  // namespace dsagent::engine::kernels::cuda
