// HcPre, HcPost, HcHead, HcComb and CompressorPool on the device (mixing_ops.h); the arithmetic
// is mixing_math.h's, shared with the host tests. One block per token for HcPre (the Sinkhorn by
// one warp, or left to HcComb's warp), one thread per value elsewhere.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "engine/kernels/cuda/act_quant_cta.cuh"
#include "engine/kernels/cuda/exact_dot_cta.cuh"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/l2_prefetch.cuh"
#include "engine/kernels/cuda/last_cta.cuh"
#include "engine/kernels/cuda/mixing_math.h"
#include "engine/kernels/cuda/mixing_ops.h"
#include "engine/kernels/cuda/moe_math.h"
#include "engine/kernels/cuda/moe_ops.h"
#include "engine/kernels/cuda/rms_norm_cta.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kFullWarp = 0xffffffffu;

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// The block's sum of the token's fp32 stream squares in double (a tree here, a loop on the CPU:
// equal but for rare last-bit differences, the fast contract); every thread gets it. The bits are
// those of kThreads threads whatever the CTA's size (rms_norm_cta.cuh's rule: more threads wait,
// fewer take several threads' partials in turn); part: kThreads doubles of shared memory.
__device__ double StreamSquares(const float* ht, int64_t n, double* part) {
  // Each thread's values i = v, v + kThreads, ... added in that order; loaded 16 at a time
  // first (one CTA reads the token's 64 KB of streams: 16 loads in flight per thread rather than
  // a latency per few values). The same sums, so the same bits.
  constexpr int kAhead = 16;
  constexpr int64_t step = kThreads;
  for (int v = threadIdx.x; v < kThreads; v += blockDim.x) {
    double ss = 0;
    int64_t i = v;
    for (; i + (kAhead - 1) * step < n; i += kAhead * step) {
      float x[kAhead];
#pragma unroll
      for (int u = 0; u < kAhead; ++u) x[u] = ht[i + u * step];
#pragma unroll
      for (int u = 0; u < kAhead; ++u) ss += static_cast<double>(x[u] * x[u]);
    }
    for (; i < n; i += step) ss += static_cast<double>(ht[i] * ht[i]);
    part[v] = ss;
  }
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    for (int v = threadIdx.x; v < stride; v += blockDim.x) part[v] += part[v + stride];
    __syncthreads();
  }
  return part[0];
}

// SinkhornCombHc (mixing_math.h) by the lanes of one warp, for hc * hc <= 32: lane l < hc * hc
// holds comb element (l / hc, l % hc). Every max and sum is taken from the line's values shuffled
// in, in the sequential version's order, and every value is computed by the same operations, so
// the bits are SinkhornCombHc's; but the 20 iterations' divisions and the softmax's exps run
// hc * hc at a time instead of one after another. Every lane of the warp must call it.
__device__ void SinkhornCombWarp(const float* mixes, const float* scale, const float* base, int hc,
                                 int iters, float eps, float* comb) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const bool mine = lane < hc * hc;
  const int i = mine ? lane / hc : 0, m = mine ? lane % hc : 0;
  float c = mine ? mixes[2 * hc + lane] * scale[2] + base[2 * hc + lane] : 0.0f;
  // Row softmax (double, rounded once) + eps.
  float mx = __shfl_sync(kFullWarp, c, i * hc);
  for (int k = 1; k < hc; ++k) {
    const float v = __shfl_sync(kFullWarp, c, i * hc + k);
    if (mx < v) mx = v;
  }
  const double e = exp(static_cast<double>(c) - static_cast<double>(mx));
  double sum = 0;
  for (int k = 0; k < hc; ++k) sum += __shfl_sync(kFullWarp, e, i * hc + k);
  c = static_cast<float>(e / sum) + eps;
  // Each line divided by its sum (double, rounded) + eps: my column (lanes k * hc + m), my row
  // (lanes i * hc + k).
  const auto normalise = [&](bool rows) {
    double line = 0;
    for (int k = 0; k < hc; ++k) line += __shfl_sync(kFullWarp, c, rows ? i * hc + k : k * hc + m);
    c /= static_cast<float>(line) + eps;
  };
  normalise(false);
  for (int it = 1; it < iters; ++it) {
    normalise(true);
    normalise(false);
  }
  if (mine) comb[lane] = c;
}

// Row `row`'s comb from its mixes (SinkhornCombHc's bits): warp 0 for hc * hc <= 32, else
// thread 0. Every thread of the CTA calls it.
__device__ void SinkhornCombRowCta(const float* mixes, const float* scale, const float* base,
                                   const HcKernelShape& s, int64_t row, float* comb) {
  const int hc = static_cast<int>(s.hc);
  float* out = comb + row * hc * hc;
  if (hc * hc <= 32) {
    if (threadIdx.x < 32) SinkhornCombWarp(mixes, scale, base, hc, s.sinkhorn_iters, s.hc_eps, out);
  } else if (threadIdx.x == 0) {
    SinkhornCombHc(mixes, scale, base, hc, s.sinkhorn_iters, s.hc_eps, out);
  }
}

// Row `row`'s pre (into `pre`), post and, unless comb is null, comb from its mixes
// (SinkhornSplitHc's bits): a thread per stream for pre and post (hc <= kMaxHc <= 32), then
// SinkhornCombRowCta. Every thread of the CTA calls it.
static_assert(kMaxHc <= 32, "HcSplitRowCta: a thread per stream within the CTA's first warp");
__device__ void HcSplitRowCta(const float* mixes, const float* scale, const float* base,
                              const HcKernelShape& s, int64_t row, float* pre, float* post,
                              float* comb) {
  const int hc = static_cast<int>(s.hc);
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < hc) {
    pre[tid] = HcPreWeight(mixes, scale, base, tid, s.hc_eps);
    post[row * hc + tid] = HcPostWeight(mixes, scale, base, hc, tid);
  }
  if (comb != nullptr) SinkhornCombRowCta(mixes, scale, base, s, row, comb);
}

// Token `row`'s HcPre by one CTA (any whole number of warps; the bits of kThreads threads): the
// rms factor, the Sinkhorn split by warp 0 (hc * hc <= 32; else by thread 0), then the weighted
// stream sum per dim; with norm_w, then RmsNorm of that row in place (RmsNormKernel's body:
// HcPreNorm), and with y_fp8 its FP8 act_quant as well. With rms_out, comb is left to HcComb
// (its Sinkhorn iterations off this kernel's path) and the row's rms factor goes to rms_out[row]
// for it. The products are read as volatile: in the fn product's launch they are other CTAs'
// writes (last_cta.cuh).
__device__ void HcPreRowCta(const float* h, const volatile float* products, const float* scale,
                            const float* base, const HcKernelShape& s, int64_t row, float* y,
                            float* post, float* comb, const float* norm_w, float norm_eps,
                            float* y_fp8, float* rms_out) {
  __shared__ double part[kThreads];
  __shared__ float pre[kMaxHc];
  const int hc = static_cast<int>(s.hc);
  const int64_t n = s.hc * s.dim, m = (2 + s.hc) * s.hc;
  const float* ht = h + row * n;
  const double ss = StreamSquares(ht, n, part);
  __shared__ float mixes[(2 + kMaxHc) * kMaxHc];
  const float r = StreamRmsFactor(ss, n, s.norm_eps);
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) mixes[j] = products[row * m + j] * r;
  if (rms_out != nullptr && threadIdx.x == 0) rms_out[row] = r;
  __syncthreads();
  HcSplitRowCta(mixes, scale, base, s, row, pre, post, rms_out != nullptr ? nullptr : comb);
  __syncthreads();
  for (int64_t d = threadIdx.x; d < s.dim; d += blockDim.x) {
    y[row * s.dim + d] = WeightedStreamValue(ht, pre, hc, s.dim, d);
  }
  if (norm_w == nullptr) return;  // uniform over the grid
  __syncthreads();  // the whole row written before the norm reads it (not only this thread's)
  RmsNormRowCta<kThreads>(y + row * s.dim, s.dim, norm_w, norm_eps, y + row * s.dim, part);
  if (y_fp8 == nullptr) return;  // uniform over the grid
  __syncthreads();               // the normalised row written before its blocks are quantised
  ActQuantFp8RowCta(y + row * s.dim, s.dim, y_fp8 + row * s.dim);
}

// One block per token: HcPreRowCta.
__global__ void HcPreKernel(const float* h, const float* products, const float* scale,
                            const float* base, HcKernelShape s, float* y, float* post, float* comb,
                            const float* norm_w, float norm_eps, float* y_fp8, float* rms_out) {
  AwaitPreviousKernel();
  HcPreRowCta(h, products, scale, base, s, blockIdx.x, y, post, comb, norm_w, norm_eps, y_fp8,
              rms_out);
}

// One CTA of 32 threads per row: the comb that HcPreRowCta left with rms_out, from the row's
// products and rms factor (the same mixes, the same SinkhornCombRowCta: HcPreRowCta's bits).
__global__ void HcCombKernel(const float* products, const float* rms, const float* scale,
                             const float* base, HcKernelShape s, float* comb) {
  AwaitPreviousKernel();
  __shared__ float mixes[(2 + kMaxHc) * kMaxHc];
  const int64_t row = blockIdx.x, m = (2 + s.hc) * s.hc;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) mixes[j] = products[row * m + j] * rms[row];
  __syncthreads();
  SinkhornCombRowCta(mixes, scale, base, s, row, comb);
}

// Grid (mixes, rows) of ExactMatVecThreads(hc * dim) threads: CTA (j, t) writes fn's exact
// product j of row t's streams (MatVecExactKernel's bits) to products, and the last of row t's
// CTAs to finish runs HcPreRowCta on the row. arrivals [rows]: zero between launches.
__global__ void __launch_bounds__(1024)
    HcFnPreKernel(WeightView fn, const float* h, float* products, const float* scale,
                  const float* base, HcKernelShape s, float* y, float* post, float* comb,
                  const float* norm_w, float norm_eps, float* y_fp8, unsigned* arrivals,
                  float* rms_out) {
  const int64_t j = blockIdx.x, t = blockIdx.y;
  const int64_t n = s.hc * s.dim, m = (2 + s.hc) * s.hc;
  // fn's row into L2 before the wait for the kernel ahead (the first row's CTA).
  if (t == 0) {
    PrefetchWeightRowsL2(fn, j, 1, static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x));
  }
  AwaitPreviousKernel();
  const double total = ExactRowDotCta(fn, j, h + t * n);
  if (threadIdx.x == 0) products[t * m + j] = static_cast<float>(total);
  if (!LastCtaToArrive(&arrivals[t], static_cast<unsigned>(m))) return;
  HcPreRowCta(h, products, scale, base, s, t, y, post, comb, norm_w, norm_eps, y_fp8, rms_out);
}

// HcPost of the sub-layer before (f, and post_in/comb_in as that sub-layer's HcFnPreKernel left
// them) into row t's streams, then HcFnPreKernel's work on the new streams, grid and threads as
// there: each CTA computes the row's new streams into shared memory (HcPostColumn's bits) and
// takes its fn product from there; the last of the row's CTAs to finish writes them to h — every
// other CTA has read the old streams, post_in and comb_in by then — and runs HcPreRowCta on them,
// which writes the new post and comb. With combine.routed set, f is the MoE's output, each
// element computed here as MoeCombine computes it (CombineValue over the row's CombineSlots,
// found once a CTA).
// Dynamic shared memory: hc * dim floats.
__global__ void __launch_bounds__(1024)
    HcPostFnPreKernel(WeightView fn, const float* f, MoeCombineSource combine, const float* post_in,
                      const float* comb_in, float* h, float* products, const float* scale,
                      const float* base, HcKernelShape s, float* y, float* post, float* comb,
                      const float* norm_w, float norm_eps, float* y_fp8, unsigned* arrivals,
                      float* rms_out) {
  extern __shared__ float streams[];  // [hc * dim]: the row's new streams
  __shared__ int slots[kMaxRouteK];   // the combine's slots of the row (CombineSlots)
  __shared__ int slot_count;
  const int64_t j = blockIdx.x, t = blockIdx.y;
  const int64_t n = s.hc * s.dim, m = (2 + s.hc) * s.hc;
  const int hc = static_cast<int>(s.hc);
  if (t == 0) {
    PrefetchWeightRowsL2(fn, j, 1, static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x));
  }
  AwaitPreviousKernel();
  float* ht = h + t * n;
  const bool combined = combine.routed != nullptr;  // uniform over the grid
  const int64_t k = combine.k;
  if (combined) {
    if (threadIdx.x == 0)
      slot_count = CombineSlots(combine.ids + t * k, static_cast<int>(k), slots);
    __syncthreads();
  }
  for (int64_t d = threadIdx.x; d < s.dim; d += blockDim.x) {
    const float value =
        combined ? CombineValue(combine.routed + t * k * s.dim, combine.shared[t * s.dim + d],
                                slots, slot_count, s.dim, d)
                 : f[t * s.dim + d];
    HcPostColumn(&value, ht, post_in + t * hc, comb_in + t * hc * hc, 0, hc, s.dim, d, streams);
  }
  __syncthreads();
  const double total = ExactRowDotCta(fn, j, streams);
  if (threadIdx.x == 0) products[t * m + j] = static_cast<float>(total);
  if (!LastCtaToArrive(&arrivals[t], static_cast<unsigned>(m))) return;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ht[i] = streams[i];
  __syncthreads();  // the row's new streams in h before HcPreRowCta reads them there
  HcPreRowCta(h, products, scale, base, s, t, y, post, comb, norm_w, norm_eps, y_fp8, rms_out);
}

// HcPre's shape for the head: hc mixes, each stream weighted by sigmoid(mix * scale + base) + eps.
__global__ void HcHeadKernel(const float* h, const float* products, const float* scale,
                             const float* base, HcKernelShape s, float* y) {
  AwaitPreviousKernel();
  __shared__ double part[kThreads];
  __shared__ float pre[kMaxHc];
  const int64_t row = blockIdx.x;
  const int hc = static_cast<int>(s.hc);
  const int64_t n = s.hc * s.dim;
  const float* ht = h + row * n;
  const double ss = StreamSquares(ht, n, part);
  if (threadIdx.x == 0) {
    const float r = StreamRmsFactor(ss, n, s.norm_eps);
    for (int j = 0; j < hc; ++j) {
      pre[j] = HeadStreamWeight(products[row * hc + j] * r, scale[0], base[j], s.hc_eps);
    }
  }
  __syncthreads();
  for (int64_t d = threadIdx.x; d < s.dim; d += blockDim.x) {
    y[row * s.dim + d] = WeightedStreamValue(ht, pre, hc, s.dim, d);
  }
}

// One thread per (token, dim): it reads the hc stream values of its column before writing the hc
// outputs, so out may alias h.
__global__ void HcPostKernel(const float* f, const float* h, const float* post, const float* comb,
                             int64_t rows, HcKernelShape s, float* out) {
  AwaitPreviousKernel();
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * s.dim) return;
  HcPostColumn(f + idx, h, post, comb, idx / s.dim, static_cast<int>(s.hc), s.dim, idx % s.dim,
               out);
}

// Grid (columns, blocks): block y's slots at kv + y * block_stride, its entry at entry + y *
// head_dim.
__global__ void CompressorPoolKernel(const float* kv, const float* score, int64_t width,
                                     int64_t ratio, int64_t head_dim, bool overlap, bool round_bf16,
                                     float* entry, int64_t block_stride) {
  AwaitPreviousKernel();
  kv += blockIdx.y * block_stride;
  score += blockIdx.y * block_stride;
  entry += blockIdx.y * head_dim;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= head_dim) return;
  const float v = PoolChannel(kv, score, width, ratio, head_dim, overlap, c);
  entry[c] = round_bf16 ? RoundBf16(v) : v;
}

// HcPreNorm's FP8 copy of y is quantised in blocks of 128 within a row.
void CheckHcFp8Copy(const HcKernelShape& s, const float* y_fp8, const char* op) {
  if (y_fp8 != nullptr && s.dim % 128 != 0) {
    throw CudaError(std::string(op) + ": an FP8 copy of y needs dim a multiple of 128, not " +
                    std::to_string(s.dim));
  }
}

void CheckHc(const HcKernelShape& s, const char* op) {
  if (s.hc <= 0 || s.hc > kMaxHc || s.dim <= 0 || s.sinkhorn_iters < 1) {
    throw CudaError(std::string(op) + ": " + std::to_string(s.hc) + " streams of " +
                    std::to_string(s.dim) + " (streams 1.." + std::to_string(kMaxHc) +
                    ", Sinkhorn iterations >= 1)");
  }
}

// The arguments of one fn launch (HcFnPreNorm, HcPostFnPreNorm): the shape, an fn of (2 + hc) *
// hc rows by hc * dim columns, the FP8 copy's blocks, and the rows (a grid dimension).
void CheckHcFnLaunch(const DeviceWeight& fn, const HcKernelShape& shape, int64_t rows,
                     const float* y_fp8, const char* op) {
  CheckHc(shape, op);
  const int64_t n = shape.hc * shape.dim, m = (2 + shape.hc) * shape.hc;
  if (fn.rows != m || fn.cols != n) {
    throw CudaError(std::string(op) + ": an fn of " + std::to_string(fn.rows) + " x " +
                    std::to_string(fn.cols) + " for " + std::to_string(m) + " mixes of " +
                    std::to_string(n) + " stream values");
  }
  CheckHcFp8Copy(shape, y_fp8, op);
  if (rows > 65535) {
    throw CudaError(std::string(op) + ": " + std::to_string(rows) + " rows (at most 65535)");
  }
}

}  // namespace

void HcPre(const float* h, const float* products, int64_t rows, const float* scale,
           const float* base, const HcKernelShape& shape, float* y, float* post, float* comb,
           CudaStream& stream) {
  CheckHc(shape, "HcPre");
  if (rows <= 0) return;
  LaunchKernel(HcPreKernel, "HcPreKernel", static_cast<unsigned>(rows), kThreads, 0, Raw(stream), h,
               products, scale, base, shape, y, post, comb, nullptr, 0.0f, nullptr, nullptr);
  CheckCuda(cudaGetLastError(), "HcPre launch");
}

void HcPreNorm(const float* h, const float* products, int64_t rows, const float* scale,
               const float* base, const HcKernelShape& shape, const float* norm_w, float norm_eps,
               float* y, float* post, float* comb, CudaStream& stream, float* y_fp8,
               float* comb_rms) {
  CheckHc(shape, "HcPreNorm");
  CheckHcFp8Copy(shape, y_fp8, "HcPreNorm");
  if (rows <= 0) return;
  LaunchKernel(HcPreKernel, "HcPreKernel", static_cast<unsigned>(rows), kThreads, 0, Raw(stream), h,
               products, scale, base, shape, y, post, comb, norm_w, norm_eps, y_fp8, comb_rms);
  CheckCuda(cudaGetLastError(), "HcPreNorm launch");
}

void HcComb(const float* products, const float* comb_rms, int64_t rows, const float* scale,
            const float* base, const HcKernelShape& shape, float* comb, CudaStream& stream) {
  CheckHc(shape, "HcComb");
  if (rows <= 0) return;
  LaunchKernel(HcCombKernel, "HcCombKernel", static_cast<unsigned>(rows), 32, 0, Raw(stream),
               products, comb_rms, scale, base, shape, comb);
  CheckCuda(cudaGetLastError(), "HcComb launch");
}

void HcFnPreNorm(const DeviceWeight& fn, const float* h, int64_t rows, float* products,
                 const float* scale, const float* base, const HcKernelShape& shape,
                 const float* norm_w, float norm_eps, float* y, float* post, float* comb,
                 unsigned* arrivals, CudaStream& stream, float* y_fp8, float* comb_rms) {
  CheckHcFnLaunch(fn, shape, rows, y_fp8, "HcFnPreNorm");
  const int64_t n = shape.hc * shape.dim, m = (2 + shape.hc) * shape.hc;
  if (rows <= 0) return;
  if (!FusedStepsOn()) {
    MatVecExact(fn, h, rows, n, products, m, false, stream);
    HcPreNorm(h, products, rows, scale, base, shape, norm_w, norm_eps, y, post, comb, stream, y_fp8,
              comb_rms);
    return;
  }
  const dim3 grid(static_cast<unsigned>(m), static_cast<unsigned>(rows));
  LaunchKernel(HcFnPreKernel, "HcFnPreKernel", grid, ExactMatVecThreads(n), 0, Raw(stream),
               ViewOf(fn), h, products, scale, base, shape, y, post, comb, norm_w, norm_eps, y_fp8,
               arrivals, comb_rms);
  CheckCuda(cudaGetLastError(), "HcFnPreNorm launch");
}

// The most shared memory HcPostFnPreNorm's kernel asks for (the row's new streams): hc * dim up
// to 40,960 floats (Flash's 4 x 4096 take 64 KB, Pro's 4 x 7168 112 KB); wider streams, or more
// than the device's limit (sm_120's 99 KiB), take the two ops.
constexpr int64_t kHcStreamsSharedMax = 160 * 1024;

namespace {

// HcPostFnPreKernel's launch for HcPostFnPreNorm (f) and HcCombinePostFnPreNorm (combine); false
// where the streams do not fit its shared memory or the fused steps are off (the caller then
// runs the separate ops).
bool LaunchHcPostFnPre(const DeviceWeight& fn, const float* f, const MoeCombineSource& combine,
                       const float* post_in, const float* comb_in, float* h, int64_t rows,
                       float* products, const float* scale, const float* base,
                       const HcKernelShape& shape, const float* norm_w, float norm_eps, float* y,
                       float* post, float* comb, unsigned* arrivals, CudaStream& stream,
                       float* y_fp8, float* comb_rms) {
  const int64_t n = shape.hc * shape.dim, m = (2 + shape.hc) * shape.hc;
  const int64_t shared = n * static_cast<int64_t>(sizeof(float));
  if (!FusedStepsOn() || shared > std::min(kHcStreamsSharedMax, DeviceSharedBytesOptIn())) {
    return false;
  }
  if (rows <= 0) return true;
  static SharedMemoryOptIn opt_in;
  AllowDynamicSharedMemory(reinterpret_cast<const void*>(HcPostFnPreKernel),
                           static_cast<int>(kHcStreamsSharedMax), opt_in);
  const dim3 grid(static_cast<unsigned>(m), static_cast<unsigned>(rows));
  LaunchKernel(HcPostFnPreKernel, "HcPostFnPreKernel", grid, ExactMatVecThreads(n),
               static_cast<size_t>(shared), Raw(stream), ViewOf(fn), f, combine, post_in, comb_in,
               h, products, scale, base, shape, y, post, comb, norm_w, norm_eps, y_fp8, arrivals,
               comb_rms);
  CheckCuda(cudaGetLastError(), "HcPostFnPreNorm launch");
  return true;
}

}  // namespace

void HcPostFnPreNorm(const DeviceWeight& fn, const float* f, float* h, int64_t rows,
                     float* products, const float* scale, const float* base,
                     const HcKernelShape& shape, const float* norm_w, float norm_eps, float* y,
                     float* post, float* comb, unsigned* arrivals, CudaStream& stream, float* y_fp8,
                     float* comb_rms) {
  CheckHcFnLaunch(fn, shape, rows, y_fp8, "HcPostFnPreNorm");
  if (LaunchHcPostFnPre(fn, f, MoeCombineSource{}, post, comb, h, rows, products, scale, base,
                        shape, norm_w, norm_eps, y, post, comb, arrivals, stream, y_fp8,
                        comb_rms)) {
    return;
  }
  HcPost(f, h, post, comb, rows, shape, h, stream);
  HcFnPreNorm(fn, h, rows, products, scale, base, shape, norm_w, norm_eps, y, post, comb, arrivals,
              stream, y_fp8, comb_rms);
}

void HcCombinePostFnPreNorm(const DeviceWeight& fn, const MoeCombineSource& f, const float* post_in,
                            const float* comb_in, float* h, int64_t rows, float* products,
                            const float* scale, const float* base, const HcKernelShape& shape,
                            const float* norm_w, float norm_eps, float* y, float* post, float* comb,
                            unsigned* arrivals, CudaStream& stream, float* y_fp8, float* comb_rms) {
  CheckHcFnLaunch(fn, shape, rows, y_fp8, "HcCombinePostFnPreNorm");
  if (f.k <= 0 || f.k > kMaxRouteK || f.routed == nullptr || f.shared == nullptr ||
      f.ids == nullptr) {
    throw CudaError("HcCombinePostFnPreNorm: a combine of " + std::to_string(f.k) + " slots (1.." +
                    std::to_string(kMaxRouteK) + ", with routed, shared and ids)");
  }
  if (LaunchHcPostFnPre(fn, nullptr, f, post_in, comb_in, h, rows, products, scale, base, shape,
                        norm_w, norm_eps, y, post, comb, arrivals, stream, y_fp8, comb_rms)) {
    return;
  }
  const HcPostArgs into_streams{h, post_in, comb_in, shape, h};
  MoeCombine(f.routed, f.shared, f.ids, rows, f.k, shape.dim, f.out, stream, &into_streams);
  HcFnPreNorm(fn, h, rows, products, scale, base, shape, norm_w, norm_eps, y, post, comb, arrivals,
              stream, y_fp8, comb_rms);
}

void CheckHcPost(const HcPostArgs& a) { CheckHc(a.shape, "HcPost"); }

void HcPost(const float* f, const float* h, const float* post, const float* comb, int64_t rows,
            const HcKernelShape& shape, float* out, CudaStream& stream) {
  CheckHc(shape, "HcPost");
  if (rows <= 0) return;
  LaunchKernel(HcPostKernel, "HcPostKernel", Blocks(rows * shape.dim), kThreads, 0, Raw(stream), f,
               h, post, comb, rows, shape, out);
  CheckCuda(cudaGetLastError(), "HcPost launch");
}

void HcHead(const float* h, const float* products, int64_t rows, const float* scale,
            const float* base, const HcKernelShape& shape, float* y, CudaStream& stream) {
  CheckHc(shape, "HcHead");
  if (rows <= 0) return;
  LaunchKernel(HcHeadKernel, "HcHeadKernel", static_cast<unsigned>(rows), kThreads, 0, Raw(stream),
               h, products, scale, base, shape, y);
  CheckCuda(cudaGetLastError(), "HcHead launch");
}

void CompressorPool(const float* kv_state, const float* score_state, int64_t width, int64_t ratio,
                    int64_t head_dim, bool overlap, bool round_bf16, float* entry,
                    CudaStream& stream) {
  if (ratio <= 0 || head_dim <= 0 || width < (overlap ? 2 * head_dim : head_dim)) {
    throw CudaError("CompressorPool: ratio " + std::to_string(ratio) + ", head_dim " +
                    std::to_string(head_dim) + ", state width " + std::to_string(width) +
                    " (at least head_dim, twice that when overlapping)");
  }
  LaunchKernel(CompressorPoolKernel, "CompressorPoolKernel", Blocks(head_dim), kThreads, 0,
               Raw(stream), kv_state, score_state, width, ratio, head_dim, overlap, round_bf16,
               entry, 0);
  CheckCuda(cudaGetLastError(), "CompressorPool launch");
}

void CompressorPoolRows(const float* kv, const float* score, int64_t count, int64_t width,
                        int64_t ratio, int64_t head_dim, bool overlap, bool round_bf16,
                        float* entries, CudaStream& stream) {
  if (ratio <= 0 || head_dim <= 0 || width < (overlap ? 2 * head_dim : head_dim) || count > 65535) {
    throw CudaError("CompressorPoolRows: " + std::to_string(count) + " blocks, ratio " +
                    std::to_string(ratio) + ", head_dim " + std::to_string(head_dim) +
                    ", state width " + std::to_string(width));
  }
  if (count <= 0) return;
  const int64_t slots = overlap ? 2 * ratio : ratio;
  const dim3 grid(Blocks(head_dim), static_cast<unsigned>(count));
  LaunchKernel(CompressorPoolKernel, "CompressorPoolKernel", grid, kThreads, 0, Raw(stream), kv,
               score, width, ratio, head_dim, overlap, round_bf16, entries, slots * width);
  CheckCuda(cudaGetLastError(), "CompressorPoolRows launch");
}

}  // namespace dsagent::engine::kernels::cuda
