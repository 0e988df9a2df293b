// IndexerScores and TopK on the device (indexer_ops.h); the arithmetic is attention_math.h's,
// shared with the host tests. The scores of V4's shape as a tiled double GEMM (2026-12-04, after
// the first GPU run timed the warp-per-entry kernel, kept for other shapes, at 23-24 GB/s; not
// yet run on a GPU); one block per top-k row.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/cuda/indexer_ops.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/last_cta.cuh"
#include "engine/kernels/cuda/vector_steps.h"
#include "engine/kernels/cuda/warp_butterfly.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kScoreThreads = 256;         // 8 warps, one entry each at a time
constexpr int64_t kMaxScoreBlocks = 1024;  // grid-stride beyond: q is staged once per block
constexpr int kTopKThreads = 1024;
constexpr int64_t kMaxTopK = 4096;
// Scores per row from which a single row with a scratch takes the many-CTA path (TopKWide):
// below it, one CTA's passes cost less than the wide path's dozen launches.
constexpr int64_t kWideTopKScores = 65536;
constexpr int64_t kMaxSharedBytes = 48 * 1024;  // without the opt-in attribute

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

// q and the head weights in shared memory; each warp scores whole entries: per head, the lanes'
// double partial dots combined by shuffles (exact products, so the order does not matter), then
// lane 0 adds the head's term in head order (the CPU's order).
// Rows mode (RowsOf: grid y over rows at consecutive positions from pos0 of a layer with this
// ratio): row t's q, head weights and scores at t times their strides, over its (pos0 + t + 1) /
// ratio visible keys. With `positions` (a batched step's rows, each of its own sequence), row t's
// position is positions[t] and its keys are its sequence's, sequences[t].entries.
struct ScoreRows {
  int64_t pos0 = 0, ratio = 0;  // ratio 0: one row, n keys
  int64_t q_stride = 0, hw_stride = 0, score_stride = 0;
  const int32_t* positions = nullptr;
  const CompressorRow* sequences = nullptr;
};
__device__ __forceinline__ void RowsOf(const ScoreRows& r, const float*& q,
                                       const float*& head_weights, const uint16_t*& keys,
                                       float*& score, int64_t& n) {
  if (r.ratio <= 0) return;
  const int64_t t = blockIdx.y;
  if (r.positions != nullptr) {
    n = (r.positions[t] + 1) / r.ratio;
    keys = r.sequences[t].entries;
  } else {
    n = (r.pos0 + t + 1) / r.ratio;
  }
  q += t * r.q_stride;
  head_weights += t * r.hw_stride;
  score += t * r.score_stride;
}

// A head's weight as the scores take it: bf16(w * head_scale), done here rather than in a launch
// of its own before the scores.
__device__ __forceinline__ float HeadWeight(float w, float head_scale) {
  return RoundBf16(w * head_scale);
}

__global__ void IndexerScoresKernel(const float* q, const float* head_weights, int64_t heads,
                                    int64_t hd, const uint16_t* keys, int64_t n, float* score,
                                    ScoreRows rows, float head_scale) {
  AwaitPreviousKernel();
  RowsOf(rows, q, head_weights, keys, score, n);
  extern __shared__ __align__(16) unsigned char smem[];
  float* qs = reinterpret_cast<float*>(smem);  // [heads * hd]
  float* ws = qs + heads * hd;                 // [heads]
  for (int64_t i = threadIdx.x; i < heads * hd; i += blockDim.x) qs[i] = q[i];
  for (int64_t i = threadIdx.x; i < heads; i += blockDim.x) {
    ws[i] = HeadWeight(head_weights[i], head_scale);
  }
  __syncthreads();
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t warps = blockDim.x / 32;
  for (int64_t e = blockIdx.x * warps + threadIdx.x / 32; e < n; e += gridDim.x * warps) {
    const uint16_t* k = keys + e * hd;
    double sum = 0;
    for (int64_t h = 0; h < heads; ++h) {
      const float* qh = qs + h * hd;
      double dot = 0;
      for (int64_t d = lane; d < hd; d += 32) {
        dot += static_cast<double>(qh[d]) * static_cast<double>(Bf16ToFloat(k[d]));
      }
      dot = XorSum<32>(dot);
      sum += IndexerHeadTerm(dot, ws[h]);  // every lane holds the same dot and sum
    }
    if (lane == 0) score[e] = IndexerScore(sum);
  }
}

// The scores as a small GEMM in double, for V4's shape (heads a multiple of 16 up to 64, head dim
// up to 128): q once per CTA and a tile of 64 entries' keys at a time are staged in shared memory
// as doubles (rows padded to an odd length: no bank conflicts); thread (th, te) of the 256
// computes the dots of heads th + 16i and entries te + 16j (i, j < 4) over the dims in order
// (fma: each product, a float times a bf16, is exact in double, as is their sum); the terms go to
// shared memory and one thread per entry adds them in head order (the CPU's order).
constexpr int kTileEntries = 64, kTileThreads = 256, kTileMaxHeads = 64, kTileMaxDim = 128;
// The most 16-byte chunks of q (floats) and of a tile's keys (bf16) one thread stages; q and the
// keys 16-byte aligned, the head dim a multiple of 8 (TakesTiledScores).
constexpr int kTileQChunksPerThread = kTileMaxHeads * kTileMaxDim / 4 / kTileThreads;
constexpr int kTileKeyChunksPerThread = kTileEntries * kTileMaxDim / 8 / kTileThreads;
// The indexer query's steps on its heads staged as doubles (qd [heads][pitch], one row): RoPE at
// p.pos on each head's last p.rope_dims values, the Hadamard rotation, FP4 per 32 — the operations
// RunVectorSteps runs on each head (RopePair on the floats, the butterflies in double, HadamardOut,
// the block's amax and QuantizeE2M1), on the same values, spread over the CTA's threads: the same
// bits. hd a power of two and a multiple of 32. What the CTA wrote to qd before must be behind a
// barrier; a barrier ends it.
__device__ void IndexerQueryStepsCta(double* qd, int64_t heads, int64_t hd, int64_t pitch,
                                     const IndexerQueryPrep& p) {
  const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  const int64_t half = p.rope_dims / 2;
  for (int64_t k = tid; k < heads * half; k += threads) {
    double* r = qd + (k / half) * pitch + (hd - p.rope_dims);
    const int64_t i = k % half;
    float a = static_cast<float>(r[2 * i]), b = static_cast<float>(r[2 * i + 1]);
    RopePair(a, b, static_cast<float>(p.pos) * p.freqs[i], /*inverse=*/false);
    r[2 * i] = a;
    r[2 * i + 1] = b;
  }
  __syncthreads();
  const int64_t pairs = hd / 2;
  for (int64_t step = 1; step < hd; step *= 2) {
    for (int64_t k = tid; k < heads * pairs; k += threads) {
      HadamardButterfly(qd + (k / pairs) * pitch, step, k % pairs);
    }
    __syncthreads();
  }
  const int64_t blocks = hd / 32;
  for (int64_t b = tid; b < heads * blocks; b += threads) {
    double* v = qd + (b / blocks) * pitch + (b % blocks) * 32;
    float amax = 0.0f;
    for (int u = 0; u < 32; ++u) amax = fmaxf(amax, fabsf(HadamardOut(v[u], hd)));
    const float scale = Fp4BlockScale(amax);
    for (int u = 0; u < 32; ++u) v[u] = QuantizeE2M1(HadamardOut(v[u], hd), scale);
  }
  __syncthreads();
}

__global__ void IndexerScoresTiledKernel(const float* q, const float* head_weights, int64_t heads,
                                         int64_t hd, const uint16_t* keys, int64_t n, float* score,
                                         ScoreRows rows, float head_scale, IndexerQueryPrep prep) {
  AwaitPreviousKernel();
  RowsOf(rows, q, head_weights, keys, score, n);
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t pitch = hd + 1;                  // odd: rows start in different banks
  double* qd = reinterpret_cast<double*>(smem);  // [heads][pitch]
  double* kd = qd + heads * pitch;               // [kTileEntries][pitch]
  float* terms = reinterpret_cast<float*>(kd + kTileEntries * pitch);  // [kTileEntries][heads]
  const int tid = static_cast<int>(threadIdx.x);
  const int th = tid % 16, te = tid / 16;
  // Staged with every load of a thread issued before its first store (16-byte loads, int32
  // indices, no branch between them): the loops of one element per iteration, each with a
  // 64-bit division, waited a load's latency per element, 32 times for q and 32 per tile.
  const int q_row = static_cast<int>(hd / 4), q_chunks = static_cast<int>(heads) * q_row;
  float4 q4[kTileQChunksPerThread];
#pragma unroll
  for (int u = 0; u < kTileQChunksPerThread; ++u) {
    const int c = tid + u * kTileThreads;
    if (c < q_chunks) q4[u] = reinterpret_cast<const float4*>(q)[c];
  }
#pragma unroll
  for (int u = 0; u < kTileQChunksPerThread; ++u) {
    const int c = tid + u * kTileThreads;
    if (c < q_chunks) {
      const int h = c / q_row;
      double* dst = qd + h * pitch + 4 * (c - h * q_row);
      dst[0] = q4[u].x, dst[1] = q4[u].y, dst[2] = q4[u].z, dst[3] = q4[u].w;
    }
  }
  if (prep.on) {  // uniform over the grid
    __syncthreads();
    IndexerQueryPrep p = prep;
    if (p.positions != nullptr) p.pos = p.positions[blockIdx.y];  // a batched step's row
    IndexerQueryStepsCta(qd, heads, hd, pitch, p);
  }
  const int k_row = static_cast<int>(hd / 8), k_chunks = kTileEntries * k_row;
  for (int64_t e0 = static_cast<int64_t>(blockIdx.x) * kTileEntries; e0 < n;
       e0 += static_cast<int64_t>(gridDim.x) * kTileEntries) {
    uint4 kv8[kTileKeyChunksPerThread];
#pragma unroll
    for (int u = 0; u < kTileKeyChunksPerThread; ++u) {
      const int c = tid + u * kTileThreads, e = c / k_row;
      kv8[u] = make_uint4(0, 0, 0, 0);
      if (c < k_chunks && e0 + e < n) {
        kv8[u] = __ldg(reinterpret_cast<const uint4*>(keys + (e0 + e) * hd) + (c - e * k_row));
      }
    }
    __syncthreads();  // qd (first tile); kd and terms are free again (later tiles)
#pragma unroll
    for (int u = 0; u < kTileKeyChunksPerThread; ++u) {
      const int c = tid + u * kTileThreads, e = c / k_row;
      if (c < k_chunks) {
        double* dst = kd + e * pitch + 8 * (c - e * k_row);
        const bool valid = e0 + e < n;
        const uint32_t words[4] = {kv8[u].x, kv8[u].y, kv8[u].z, kv8[u].w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          dst[2 * k] = valid ? static_cast<double>(Bf16ToFloat(words[k] & 0xffffu)) : 0.0;
          dst[2 * k + 1] = valid ? static_cast<double>(Bf16ToFloat(words[k] >> 16)) : 0.0;
        }
      }
    }
    __syncthreads();
    double acc[4][4] = {};
    for (int64_t d = 0; d < hd; ++d) {
      double qv[4], kv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int64_t h = th + 16 * i;
        qv[i] = h < heads ? qd[h * pitch + d] : 0.0;
        kv[i] = kd[(te + 16 * i) * pitch + d];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(qv[i], kv[j], acc[i][j]);
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t h = th + 16 * i;
      if (h >= heads) continue;
      const float w = HeadWeight(head_weights[h], head_scale);
#pragma unroll
      for (int j = 0; j < 4; ++j) terms[(te + 16 * j) * heads + h] = IndexerHeadTerm(acc[i][j], w);
    }
    __syncthreads();
    if (tid < kTileEntries && e0 + tid < n) {
      double sum = 0;
      for (int64_t h = 0; h < heads; ++h) sum += terms[tid * heads + h];
      score[e0 + tid] = IndexerScore(sum);
    }
  }
}

// Rows mode's padding: row t's scores [(pos0 + t + 1) / ratio, pad_to) set to -inf.
__global__ void PadScoresKernel(float* score, int64_t score_stride, int64_t pos0, int64_t ratio,
                                int64_t pad_to) {
  AwaitPreviousKernel();
  const int64_t t = blockIdx.y;
  const int64_t e =
      (pos0 + t + 1) / ratio + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < pad_to) score[t * score_stride + e] = NegInfF();
}

// RadixSelectPass (attention_math.h) by the 32 lanes of a warp: lane l loads buckets 255 - 8l
// down to 248 - 8l at once, a scan over the lanes gives the count of keys above each lane's
// buckets, and the one lane whose buckets hold the rank-th largest key walks them as
// RadixSelectBucket walks all 256. Integer counts: the same bucket and rank as the one-thread
// loop, which waited for the 256 counts one after another (shared memory in TopK, global memory
// in the wide path). Every lane of the warp must call it; all get the result. (Whether the passes
// stop is RadixCandidates' to say, from the same histogram.)
__device__ void RadixSelectPassWarp(const uint32_t* histogram, int shift, uint32_t& rank,
                                    uint64_t& prefix, uint64_t& mask) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int top = 255 - 8 * lane;
  uint32_t count[8], sum = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) count[i] = histogram[top - i];
#pragma unroll
  for (int i = 0; i < 8; ++i) sum += count[i];
  uint32_t through = sum;  // the keys in buckets 255 .. top - 7
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const uint32_t v = __shfl_up_sync(kFullWarp, through, offset);
    if (lane >= offset) through += v;
  }
  const uint32_t k = rank, above = through - sum;
  // RadixSelectBucket stops at the first bucket b > 0 (from the top) whose keys with those above
  // reach k, else at bucket 0: the last lane's range holds bucket 0.
  const bool mine = above < k && (through >= k || lane == 31);
  int bucket = 0;
  uint32_t left = 0;
  if (mine) {
    uint32_t run = above;
    for (int i = 0; i < 8; ++i) {
      if (top - i == 0 || run + count[i] >= k) {
        bucket = top - i;
        left = k - run;
        break;
      }
      run += count[i];
    }
  }
  // No owner only for k = 0, where the loop stops at once: bucket 255, rank 0.
  const unsigned owners = __ballot_sync(kFullWarp, mine);
  const int owner = owners != 0 ? __ffs(static_cast<int>(owners)) - 1 : 0;
  bucket = owners != 0 ? __shfl_sync(kFullWarp, bucket, owner) : 255;
  left = owners != 0 ? __shfl_sync(kFullWarp, left, owner) : k;
  rank = left;
  prefix |= static_cast<uint64_t>(bucket) << shift;
  mask |= static_cast<uint64_t>(255) << shift;
}

// fn(key_of(i)) for i = first, first + stride, ... below n, in that order, the keys made 8 at a
// time before fn sees them: each pass of the top-k reads every score again, and a loop of one
// load, its key and its count waited a load's latency (L2, a few hundred cycles) per score, 16
// times a pass at 16K scores; with the 7 passes of bf16 ties and the gather, that estimate is
// most of run 4's 28 us (not profiled).
template <class KeyOf, class Fn>
__device__ void ForEachKey(KeyOf key_of, int64_t first, int64_t n, int64_t stride, Fn fn) {
  constexpr int kAhead = 8;
  for (int64_t base = first; base < n; base += kAhead * stride) {
    uint64_t keys[kAhead];
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      const int64_t i = base + u * stride;
      keys[u] = i < n ? key_of(i) : 0;
    }
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      if (base + u * stride < n) fn(keys[u]);
    }
  }
}

// One radix pass's counting: the keys key_of(i), i = first, first + stride, ... below n, that
// match `prefix` under `mask`, added into `histogram` (256 counts) by their byte at `shift`.
// A thread keeps a run of keys of one bucket in a register and adds it with one atomic when the
// bucket changes, and a warp whose lanes end on one bucket adds their runs with one atomic: the
// first pass's byte is the score's sign and exponent, which most keys share (an indexer's bf16
// scores over 16K keys put a third to a half of them on one counter), and one atomic a key had
// the threads queue on that counter. The counts are the same integers, so the pass chooses the
// same bucket. Every thread of the CTA calls it (whole warps).
template <class KeyOf>
__device__ void CountPassKeys(KeyOf key_of, int64_t first, int64_t n, int64_t stride,
                              uint64_t prefix, uint64_t mask, int shift, uint32_t* histogram) {
  uint32_t bucket = 0, run = 0;
  ForEachKey(key_of, first, n, stride, [&](uint64_t key) {
    if ((key & mask) != prefix) return;
    const uint32_t b = static_cast<uint32_t>(key >> shift) & 255u;
    if (b != bucket && run != 0) {
      atomicAdd(&histogram[bucket], run);
      run = 0;
    }
    bucket = b;
    ++run;
  });
  const unsigned busy = __ballot_sync(kFullWarp, run != 0);
  if (busy == 0) return;  // uniform across the warp
  const uint32_t common = __shfl_sync(kFullWarp, bucket, __ffs(static_cast<int>(busy)) - 1);
  if (__ballot_sync(kFullWarp, run != 0 && bucket != common) == 0) {
    const uint32_t total = XorSum<32>(run);
    if ((threadIdx.x & 31) == 0) atomicAdd(&histogram[common], total);
  } else if (run != 0) {
    atomicAdd(&histogram[bucket], run);
  }
}

// The keys at or above `prefix` into sel (slots from *count), at most `capacity` of them (all of
// them, with the passes' counts right: RadixCandidates).
template <class KeyOf>
__device__ void GatherCandidates(KeyOf key_of, int64_t first, int64_t n, int64_t stride,
                                 uint64_t prefix, uint64_t* sel, unsigned* count,
                                 int64_t capacity) {
  ForEachKey(key_of, first, n, stride, [&](uint64_t key) {
    if (key < prefix) return;
    const unsigned slot = atomicAdd(count, 1u);
    if (slot < capacity) sel[slot] = key;
  });
}

// Bitonic sort of sel[0, padded) (a power of two) descending in shared memory by the CTA, then
// the first k keys' indices, plus index_offset, to out. Every thread of the CTA must call it.
__device__ void SortDescendingAndWrite(uint64_t* sel, int64_t padded, int64_t k, int32_t* out,
                                       int32_t index_offset) {
  for (int64_t size = 2; size <= padded; size *= 2) {
    for (int64_t stride = size / 2; stride > 0; stride /= 2) {
      for (int64_t i = threadIdx.x; i < padded; i += blockDim.x) {
        const int64_t j = i ^ stride;
        if (j > i) {
          const uint64_t a = sel[i], b = sel[j];
          const bool descending = (i & size) == 0;
          if (descending ? a < b : a > b) {
            sel[i] = b;
            sel[j] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
    out[i] = static_cast<int32_t>(TopKKeyIndex(sel[i])) + index_offset;
  }
}

// One block per row. The keys (score, then the lower index) are distinct, so the k-th largest
// key T found by the radix passes selects exactly k keys (key >= T); they are gathered in any
// order and sorted by key, which is the stable sort's order. The passes stop as soon as the keys
// at or above the chosen prefix fit in the sort (RadixCandidates, at most `capacity`: scores that
// differ settle in 2-3 passes of 8, a tie at the k-th score among a few keys right after the
// score's bytes); all of them are gathered and sorted, and the first k written.
// TopKSequences' rows (TopKKernel): row t's first (positions[t] + 1) / ratio scores are its own,
// the rest of its n count as -inf (IndexerScoresRows' padding, without writing it); its indices go
// to out + t * out_stride. positions null: every score is the row's, rows k apart.
struct TopKRows {
  const int32_t* positions = nullptr;
  int64_t ratio = 0, out_stride = 0;
};

__global__ void TopKKernel(const float* score, int64_t n, int64_t k, int64_t capacity, int32_t* out,
                           int32_t index_offset, TopKRows rows) {
  AwaitPreviousKernel();
  extern __shared__ __align__(16) unsigned char smem[];
  uint64_t* sel = reinterpret_cast<uint64_t*>(smem);  // [capacity]
  __shared__ uint32_t histogram[256];
  __shared__ uint64_t prefix, mask;
  __shared__ uint32_t rank, candidates;
  __shared__ unsigned count;
  const float* s = score + static_cast<int64_t>(blockIdx.x) * n;
  const int64_t own = rows.positions != nullptr ? (rows.positions[blockIdx.x] + 1) / rows.ratio : n;
  const auto key_of = [&](int64_t i) {
    return TopKKey(i < own ? s[i] : NegInfF(), static_cast<uint32_t>(i));
  };
  if (threadIdx.x == 0) {
    prefix = 0;
    mask = 0;
    rank = static_cast<uint32_t>(k);
    count = 0;
  }
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
    __syncthreads();
    // (Each key's count aggregated across its warp by __match_any_sync measured slower on an
    // H200, 2026-12-04: 75 vs 63 us at 16K scores; CountPassKeys' runs cost no warp exchange.)
    CountPassKeys(key_of, threadIdx.x, n, blockDim.x, prefix, mask, shift, histogram);
    __syncthreads();
    if (threadIdx.x < 32) {
      uint32_t r = rank;
      uint64_t p = prefix, m = mask;
      RadixSelectPassWarp(histogram, shift, r, p, m);
      __syncwarp();  // every lane has read rank, prefix and mask before lane 0 writes them
      if (threadIdx.x == 0) {
        candidates = RadixCandidates(histogram, shift, p, r, static_cast<uint32_t>(k));
        rank = r;
        prefix = p;
        mask = m;
      }
    }
    __syncthreads();
    // Uniform: every thread reads it after the barrier (the next pass's histogram reset is
    // ordered after this read by its own barrier). The last pass always stops: distinct keys.
    if (candidates <= capacity) break;
  }
  // Padding keys are 0, below every real key (the index half of a real key is never all ones).
  const int64_t length = TopKSortLength(candidates < capacity ? candidates : capacity);
  for (int64_t i = threadIdx.x; i < length; i += blockDim.x) sel[i] = 0;
  __syncthreads();
  GatherCandidates(key_of, threadIdx.x, n, blockDim.x, prefix, sel, &count, capacity);
  __syncthreads();
  const int64_t out_stride = rows.positions != nullptr ? rows.out_stride : k;
  SortDescendingAndWrite(sel, length, k, out + static_cast<int64_t>(blockIdx.x) * out_stride,
                         index_offset);
}

// TopK over one long row by many CTAs (TopKWide): the single-CTA kernel's radix passes with the
// histogram of each pass counted by every CTA over its share of the scores (shared-memory counts,
// then one global atomic per bucket) and the pass's bucket chosen by the last CTA to finish
// (last_cta.cuh), the same RadixSelectPass on the same counts; then the keys >= the chosen prefix
// gathered by every CTA and sorted by the last to finish. The same k keys in the same order as
// TopKKernel (the same stop: RadixCandidates within the capacity): the same output.
// Since session 37 the passes and the gather are one launch after the init (WideTopKKernel),
// where each was a launch of its own: 10 launches on a decode step's path at a long context, 6 of
// them, after the passes stopped, doing nothing but costing their launch.
constexpr int kWidePhases = 9;  // 8 passes (shift 56 - 8p), then the gather
struct WideTopKState {
  uint64_t prefix, mask;
  uint32_t rank, count;
  int stopped;
  unsigned arrivals;   // the CTAs of the current phase that have finished their share
  unsigned tickets;    // CTAs started (their order: WideTopKKernel)
  unsigned published;  // phases done: the next phase's CTAs wait for it
};

// The wide path's keys: every score of the one row.
struct WideKeyOf {
  const float* s;
  __device__ uint64_t operator()(int64_t i) const {
    return TopKKey(s[i], static_cast<uint32_t>(i));
  }
};

// The state before the first pass, the histogram zeroed, the selection's padding keys 0.
__global__ void WideTopKInitKernel(WideTopKState* state, uint32_t* histogram, uint64_t* sel,
                                   int64_t k, int64_t capacity) {
  AwaitPreviousKernel();
  if (threadIdx.x == 0) {
    state->prefix = 0;
    state->mask = 0;
    state->rank = static_cast<uint32_t>(k);
    state->count = 0;
    state->stopped = 0;
    state->arrivals = 0;
    state->tickets = 0;
    state->published = 0;
  }
  for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
  for (int64_t i = threadIdx.x; i < capacity; i += blockDim.x) sel[i] = 0;
}

// Pass p's share of one CTA: its counts into the histogram; the last of the phase's `ctas` to
// finish chooses the pass's bucket from it (copied into shared memory by volatile loads: the
// others' atomics), writes the state and zeroes the histogram for the next pass. A pass after the
// passes stopped counts nothing. The state is read by volatile loads: a CTA of an earlier phase on
// this SM may have left it in L1. Returns whether this CTA was the phase's last.
__device__ bool WidePassCta(const float* s, int64_t n, int64_t k, int64_t capacity,
                            WideTopKState* state, uint32_t* histogram, int shift, unsigned share,
                            unsigned ctas) {
  __shared__ uint32_t counts[256];
  const volatile WideTopKState* v = state;
  const bool stopped = v->stopped != 0;  // uniform: the phase before published it
  const uint64_t prefix = v->prefix, mask = v->mask;
  if (!stopped) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) counts[b] = 0;
    __syncthreads();
    CountPassKeys(WideKeyOf{s}, static_cast<int64_t>(share) * blockDim.x + threadIdx.x, n,
                  static_cast<int64_t>(ctas) * blockDim.x, prefix, mask, shift, counts);
    __syncthreads();
    for (int b = threadIdx.x; b < 256; b += blockDim.x) {
      if (counts[b] != 0) atomicAdd(&histogram[b], counts[b]);
    }
  }
  if (!LastCtaToArrive(&state->arrivals, ctas)) return false;
  if (stopped) return true;
  const volatile uint32_t* total = histogram;
  for (int b = threadIdx.x; b < 256; b += blockDim.x) counts[b] = total[b];
  __syncthreads();
  if (threadIdx.x < 32) {
    uint32_t r = v->rank;
    uint64_t p = prefix, m = mask;
    RadixSelectPassWarp(counts, shift, r, p, m);
    __syncwarp();  // every lane has read the state before lane 0 writes it
    if (threadIdx.x == 0) {
      state->stopped = RadixCandidates(counts, shift, p, r, static_cast<uint32_t>(k)) <= capacity;
      state->rank = r;
      state->prefix = p;
      state->mask = m;
    }
  }
  for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
  __syncthreads();  // every thread's zeroes before thread 0 publishes the phase
  return true;
}

// The gather's share of one CTA: the keys >= the chosen prefix into sel; the last of the `ctas`
// to finish copies them (padded with 0; volatile loads) into shared memory, sorts them and writes
// the first k's indices out.
__device__ void WideGatherCta(const float* s, int64_t n, int64_t k, int64_t capacity,
                              WideTopKState* state, uint64_t* sel, unsigned share, unsigned ctas,
                              uint64_t* sorted, int32_t* out, int32_t index_offset) {
  const volatile WideTopKState* v = state;
  GatherCandidates(WideKeyOf{s}, static_cast<int64_t>(share) * blockDim.x + threadIdx.x, n,
                   static_cast<int64_t>(ctas) * blockDim.x, v->prefix, sel, &state->count,
                   capacity);
  if (!LastCtaToArrive(&state->arrivals, ctas)) return;
  const uint32_t gathered_count = v->count;
  const int64_t length = TopKSortLength(gathered_count < capacity ? gathered_count : capacity);
  const volatile uint64_t* gathered = sel;
  for (int64_t i = threadIdx.x; i < length; i += blockDim.x) sorted[i] = gathered[i];
  __syncthreads();
  SortDescendingAndWrite(sorted, length, k, out, index_offset);
}

// The passes and the gather in one launch of kWidePhases * ctas CTAs. Each CTA takes a ticket as
// it starts: ticket / ctas is its phase, ticket % ctas its share. So every CTA of an earlier
// phase is running or done when a CTA takes its ticket, and waiting for the phase before to
// publish (its last CTA's choice) waits for no CTA that cannot start, as SparseAttention's
// look-back does. A CTA of a phase after the passes stopped only counts itself. The init sets the
// tickets and the published count to zero for each call.
__global__ void WideTopKKernel(const float* s, int64_t n, int64_t k, int64_t capacity,
                               WideTopKState* state, uint32_t* histogram, uint64_t* sel,
                               int32_t* out, int32_t index_offset, unsigned ctas) {
  AwaitPreviousKernel();
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ unsigned role;
  if (threadIdx.x == 0) {
    const unsigned ticket = atomicAdd(&state->tickets, 1u);
    role = ticket;
    const unsigned phase = ticket / ctas;
    while (atomicAdd(&state->published, 0u) < phase) {
    }
  }
  __syncthreads();
  __threadfence();  // the phase before's writes before this CTA's loads of them
  const unsigned phase = role / ctas, share = role % ctas;
  if (phase + 1 < kWidePhases) {
    const int shift = 56 - 8 * static_cast<int>(phase);
    if (WidePassCta(s, n, k, capacity, state, histogram, shift, share, ctas) && threadIdx.x == 0) {
      __threadfence();  // the choice before the count that says it is there
      atomicExch(&state->published, phase + 1);
    }
    return;
  }
  uint64_t* sorted = reinterpret_cast<uint64_t*>(smem);  // [capacity]
  WideGatherCta(s, n, k, capacity, state, sel, share, ctas, sorted, out, index_offset);
}

}  // namespace

namespace {

// IndexerScoresTiledKernel's shared memory: q and a tile's keys as doubles, the tile's terms.
size_t TiledScoresSharedBytes(int64_t heads, int64_t hd) {
  return static_cast<size_t>((heads + kTileEntries) * (hd + 1)) * sizeof(double) +
         static_cast<size_t>(kTileEntries * heads) * sizeof(float);
}

// Whether IndexerScoresTiledKernel takes the shape: up to its tile's heads and dims, the heads a
// multiple of 16, every row of q and the keys' rows on 16-byte boundaries, and its shared memory
// within the device's (V4's 64 heads of 128 take 148 KB: more than sm_120's 99 KiB, so the
// warp-per-entry kernel scores there).
bool TakesTiledScores(const float* q, int64_t heads, int64_t hd, const uint16_t* keys,
                      const ScoreRows& r) {
  const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return heads > 0 && heads <= kTileMaxHeads && heads % 16 == 0 && hd > 0 && hd <= kTileMaxDim &&
         hd % 8 == 0 && aligned(q) && aligned(keys) && (r.ratio <= 0 || r.q_stride % 4 == 0) &&
         static_cast<int64_t>(TiledScoresSharedBytes(heads, hd)) <= DeviceSharedBytesOptIn();
}

// IndexerScores over `count` rows (grid y; rows mode when r.ratio > 0), n the longest row's keys.
void LaunchScores(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                  const uint16_t* keys, int64_t n, float* score, int64_t count, const ScoreRows& r,
                  float head_scale, CudaStream& stream, const IndexerQueryPrep& prep = {}) {
  if (count > 65535) throw CudaError("IndexerScores: " + std::to_string(count) + " rows");
  if (prep.on && count > 1 && (prep.positions == nullptr || r.q_stride != heads * hd)) {
    throw CudaError(
        "IndexerScores: the query steps of several rows need their positions and "
        "the rows side by side");
  }
  if (TakesTiledScores(q, heads, hd, keys, r)) {
    if (n <= 0) return;
    const size_t shared = TiledScoresSharedBytes(heads, hd);
    static SharedMemoryOptIn opt_in;
    AllowDynamicSharedMemory(reinterpret_cast<const void*>(IndexerScoresTiledKernel), 160 * 1024,
                             opt_in);
    const int64_t sms = CurrentDeviceSmCount();
    const int64_t tiles = (n + kTileEntries - 1) / kTileEntries;
    const int64_t blocks = tiles < 2 * sms ? tiles : 2 * sms;
    const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(count));
    LaunchKernel(IndexerScoresTiledKernel, "IndexerScoresTiledKernel", grid, kTileThreads, shared,
                 Raw(stream), q, head_weights, heads, hd, keys, n, score, r, head_scale, prep);
    CheckCuda(cudaGetLastError(), "IndexerScores launch");
    return;
  }
  if (prep.on) {  // the steps on q itself first: the kernel below takes finished queries
    RunVectorSteps(const_cast<float*>(q), count * heads, hd,
                   IndexerQueryVectorSteps(hd, heads, prep, prep.positions), stream);
  }
  const int64_t shared = (heads * hd + heads) * static_cast<int64_t>(sizeof(float));
  if (heads <= 0 || hd <= 0 || shared > kMaxSharedBytes) {
    throw CudaError("IndexerScores: " + std::to_string(heads) + " heads of " + std::to_string(hd) +
                    " values do not fit the kernel's shared memory (48 KiB)");
  }
  if (n <= 0) return;
  const int64_t warps = kScoreThreads / 32;
  const int64_t blocks =
      (n + warps - 1) / warps < kMaxScoreBlocks ? (n + warps - 1) / warps : kMaxScoreBlocks;
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(count));
  LaunchKernel(IndexerScoresKernel, "IndexerScoresKernel", grid, kScoreThreads,
               static_cast<size_t>(shared), Raw(stream), q, head_weights, heads, hd, keys, n, score,
               r, head_scale);
  CheckCuda(cudaGetLastError(), "IndexerScores launch");
}

}  // namespace

VectorSteps IndexerQueryVectorSteps(int64_t hd, int64_t heads, const IndexerQueryPrep& prep,
                                    const int32_t* positions) {
  VectorSteps steps;
  steps.rope_dims = prep.rope_dims;
  steps.freqs = prep.freqs;
  steps.pos = prep.pos;
  steps.positions = positions;
  steps.vectors_per_position = heads;
  steps.hadamard = true;
  steps.quant_n = hd;
  steps.quant_block = 32;
  steps.quant_format = ActQuantFormat::kFp4;
  return steps;
}

void IndexerScores(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                   const uint16_t* keys, int64_t n, float* score, CudaStream& stream,
                   float head_scale, const IndexerQueryPrep& prep) {
  // The steps' own checks: a Hadamard length that is a power of two, FP4 blocks of 32 that cover
  // the head, RoPE dims even and with frequencies — what the tiled kernel's copy needs too.
  if (prep.on) CheckVectorSteps(hd, IndexerQueryVectorSteps(hd, heads, prep));
  LaunchScores(q, head_weights, heads, hd, keys, n, score, 1, ScoreRows{}, head_scale, stream,
               prep);
}

void IndexerScoresRows(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                       const uint16_t* keys, int64_t pos0, int64_t rows, int64_t ratio,
                       float* score, int64_t score_stride, int64_t pad_to, CudaStream& stream,
                       float head_scale) {
  if (rows <= 0) return;
  if (ratio <= 0) throw CudaError("IndexerScoresRows: ratio " + std::to_string(ratio));
  const int64_t longest = (pos0 + rows) / ratio;
  if (longest > score_stride || pad_to > score_stride) {
    throw CudaError("IndexerScoresRows: rows of " + std::to_string(score_stride) + " scores, " +
                    std::to_string(std::max(longest, pad_to)) + " needed");
  }
  ScoreRows r;
  r.pos0 = pos0;
  r.ratio = ratio;
  r.q_stride = heads * hd;
  r.hw_stride = heads;
  r.score_stride = score_stride;
  LaunchScores(q, head_weights, heads, hd, keys, longest, score, rows, r, head_scale, stream);
  const int64_t shortest = (pos0 + 1) / ratio;
  if (pad_to > shortest) {
    const dim3 grid(static_cast<unsigned>((pad_to - shortest + 255) / 256),
                    static_cast<unsigned>(rows));
    LaunchKernel(PadScoresKernel, "PadScoresKernel", grid, 256, 0, Raw(stream), score, score_stride,
                 pos0, ratio, pad_to);
    CheckCuda(cudaGetLastError(), "IndexerScoresRows padding launch");
  }
}

void IndexerScoresSequences(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                            const CompressorRow* sequences, const int32_t* positions, int64_t rows,
                            int64_t ratio, int64_t longest, float* score, int64_t score_stride,
                            CudaStream& stream, float head_scale, const IndexerQueryPrep& prep) {
  if (rows <= 0) return;
  if (ratio <= 0 || longest > score_stride) {
    throw CudaError("IndexerScoresSequences: ratio " + std::to_string(ratio) + ", rows of " +
                    std::to_string(score_stride) + " scores for up to " + std::to_string(longest) +
                    " keys");
  }
  ScoreRows r;
  r.ratio = ratio;
  r.q_stride = heads * hd;
  r.hw_stride = heads;
  r.score_stride = score_stride;
  r.positions = positions;
  r.sequences = sequences;
  IndexerQueryPrep row_prep = prep;
  if (row_prep.on) {
    row_prep.positions = positions;
    CheckVectorSteps(hd, IndexerQueryVectorSteps(hd, heads, row_prep, positions));
  }
  // The keys are each row's own (aligned: an indexer state's keys buffer), none to check here.
  LaunchScores(q, head_weights, heads, hd, nullptr, longest, score, rows, r, head_scale, stream,
               row_prep);
}

int64_t TopKScratchBytes(int64_t k) {
  return static_cast<int64_t>(sizeof(WideTopKState)) + 256 * 4 + TopKSortCapacity(k) * 8 + 16;
}

bool TopKSequencesTakes(int64_t n) { return n < kWideTopKScores; }

void TopKSequences(const float* score, int64_t rows, int64_t n, int64_t k, const int32_t* positions,
                   int64_t ratio, int32_t* out, int64_t out_stride, CudaStream& stream,
                   int32_t index_offset) {
  if (rows <= 0) return;
  if (k <= 0 || k > kMaxTopK || n < k || n >= (int64_t{1} << 32) - 1 || ratio <= 0 ||
      out_stride < k || rows > 0x7fffffff) {
    throw CudaError("TopKSequences: " + std::to_string(rows) + " rows of " + std::to_string(n) +
                    " scores, k " + std::to_string(k) + " (at most " + std::to_string(kMaxTopK) +
                    " and n), ratio " + std::to_string(ratio) + ", out stride " +
                    std::to_string(out_stride));
  }
  const int64_t capacity = TopKSortCapacity(k);
  LaunchKernel(TopKKernel, "TopKKernel", static_cast<unsigned>(rows), kTopKThreads,
               static_cast<size_t>(capacity) * sizeof(uint64_t), Raw(stream), score, n, k, capacity,
               out, index_offset, TopKRows{positions, ratio, out_stride});
  CheckCuda(cudaGetLastError(), "TopK sequences launch");
}

void TopK(const float* score, int64_t rows, int64_t n, int64_t k, int32_t* out, CudaStream& stream,
          void* scratch, int64_t scratch_bytes, int32_t index_offset) {
  if (k > kMaxTopK) {
    throw CudaError("TopK: k " + std::to_string(k) + " is above the kernel's " +
                    std::to_string(kMaxTopK));
  }
  if (n >= (int64_t{1} << 32) - 1)
    throw CudaError("TopK: " + std::to_string(n) + " scores per row");
  const int64_t kept = k < n ? k : n;
  if (rows <= 0 || kept <= 0) return;
  const int64_t capacity = TopKSortCapacity(kept);
  const size_t sort_shared = static_cast<size_t>(capacity) * sizeof(uint64_t);
  if (rows > 1 || n < kWideTopKScores || scratch == nullptr) {
    LaunchKernel(TopKKernel, "TopKKernel", static_cast<unsigned>(rows), kTopKThreads, sort_shared,
                 Raw(stream), score, n, kept, capacity, out, index_offset, TopKRows{});
    CheckCuda(cudaGetLastError(), "TopK launch");
    return;
  }
  if (scratch_bytes < TopKScratchBytes(kept)) {
    throw CudaError("TopK: a scratch of " + std::to_string(scratch_bytes) + " bytes, " +
                    std::to_string(TopKScratchBytes(kept)) + " needed");
  }
  // One long row (a decode step's selection at a long context): many CTAs.
  auto* base = static_cast<unsigned char*>(scratch);
  auto* state = reinterpret_cast<WideTopKState*>(base);
  auto* histogram = reinterpret_cast<uint32_t*>(base + sizeof(WideTopKState));
  auto* sel = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(histogram + 256) + 15) &
                                          ~uintptr_t{15});
  const int64_t per_cta = 256 * 16;  // 16 scores a thread
  const int64_t want = (n + per_cta - 1) / per_cta, cap = 2 * int64_t{CurrentDeviceSmCount()};
  const unsigned ctas = static_cast<unsigned>(want < cap ? want : cap);
  LaunchKernel(WideTopKInitKernel, "WideTopKInitKernel", 1, 256, 0, Raw(stream), state, histogram,
               sel, kept, capacity);
  CheckCuda(cudaGetLastError(), "TopK init launch");
  // Every pass is queued (the host does not know when the passes stop; the CTAs of the passes
  // after it only count themselves), then the gather, all in one launch.
  LaunchKernel(WideTopKKernel, "WideTopKKernel", kWidePhases * ctas, 256, sort_shared, Raw(stream),
               score, n, kept, capacity, state, histogram, sel, out, index_offset, ctas);
  CheckCuda(cudaGetLastError(), "TopK passes and gather launch");
}

}  // namespace dsagent::engine::kernels::cuda
