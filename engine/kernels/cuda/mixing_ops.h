// The CUDA kernels of the mHC hyper-connections and the KV compressor's pooling, with the
// contract of their CPU twins; the arithmetic is mixing_math.h's, shared with the host:
//   HcPre           forward/hyper_connection.h HcPre after the fn product: ScaleMixes,
//                   SinkhornSplit, WeightedStreamSum
//   HcPost          forward/hyper_connection.h HcPost
//   HcHead          forward/hyper_connection.h HcHead after the fn product
//   HcComb          SinkhornSplit's comb alone, for an HcPre launch that left it (comb_rms)
// and, fused for a decode step's path, HcFnPreNorm, HcPostFnPreNorm, HcCombinePostFnPreNorm.
//   CompressorPool  forward/compressor.h PoolBlock (then bf16, as Compress rounds it)
// The fn and compressor products are the CPU's exact products (Compute::Exact): on the device
// they need a double-accumulating matvec, not there yet, so these kernels take the products as
// input. Pointers are device pointers; calls are queued on `stream` (bad arguments and failed
// launches throw CudaError). Tested against the CPU twins in tests/engine/kernels/
// cuda_forward_ops_test.cc (skips without a device).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct HcKernelShape {
  int64_t hc = 4;  // streams (<= 8)
  int64_t dim = 0;
  int sinkhorn_iters = 20;
  float hc_eps = 1e-6f;
  float norm_eps = 1e-6f;
};

// For each of `rows` tokens: h [rows, hc, dim] (bf16 values) and products [rows, (2+hc)*hc]
// (fn . h, fp32) -> y [rows, dim] (bf16), post [rows, hc], comb [rows, hc, hc]. scale [3] and
// base [(2+hc)*hc] are the sub-layer's HcWeights.
void HcPre(const float* h, const float* products, int64_t rows, const float* scale,
           const float* base, const HcKernelShape& shape, float* y, float* post, float* comb,
           CudaStream& stream);

// HcPre, then RmsNorm(y, rows, dim, norm_w, norm_eps, y) (ops.h) in the same launch: a sub-layer's
// normalised input in one kernel where it took two, the two ops' bits. With y_fp8 [rows, dim]
// (dim % 128 == 0), also ActQuantTo(y, y_fp8, rows, dim, 128, kFp8): the FP8 input the sub-layer's
// products take, without a launch of its own (AttentionDecode's and MoeDecode's x_fp8_written).
//
// With comb_rms [rows], comb is not written here: the rows' rms factors go to comb_rms and HcComb
// computes comb from them and the products, the same bits. Its Sinkhorn iterations (about 40
// dependent line sums and divisions of one warp) are then off this kernel's path: a decode step
// runs HcComb beside the sub-layer, which needs comb only at its HcPost (block_step.cc).
void HcPreNorm(const float* h, const float* products, int64_t rows, const float* scale,
               const float* base, const HcKernelShape& shape, const float* norm_w, float norm_eps,
               float* y, float* post, float* comb, CudaStream& stream, float* y_fp8 = nullptr,
               float* comb_rms = nullptr);

// The comb that HcPreNorm (or HcFnPreNorm, HcPostFnPreNorm) left with comb_rms: comb [rows, hc, hc]
// from products [rows, (2+hc)*hc] and comb_rms [rows], one small CTA per row.
void HcComb(const float* products, const float* comb_rms, int64_t rows, const float* scale,
            const float* base, const HcKernelShape& shape, float* comb, CudaStream& stream);

// MatVecExact(fn, h, rows, hc * dim, products, (2+hc)*hc) and then HcPreNorm(h, products, ...) in
// one launch, with their bits: one CTA per (mix, row) computes that product, and the last of a
// row's CTAs to finish runs HcPreNorm's body on the row (last_cta.cuh), so a sub-layer's input is
// one kernel on a decode step's critical path instead of two. fn: the sub-layer's HcWeights fn on
// the device, [(2+hc)*hc, hc*dim]. arrivals [rows]: device memory that is zero before the first
// call (DeviceBuffer::Zero) and is left zero by each; it and products belong to one launch at a
// time. With FusedStepsOn() false (fused_steps.h), the two launches.
// comb_rms as HcPreNorm's.
void HcFnPreNorm(const DeviceWeight& fn, const float* h, int64_t rows, float* products,
                 const float* scale, const float* base, const HcKernelShape& shape,
                 const float* norm_w, float norm_eps, float* y, float* post, float* comb,
                 unsigned* arrivals, CudaStream& stream, float* y_fp8 = nullptr,
                 float* comb_rms = nullptr);

// HcPost(f, h, post, comb, rows, shape, h) and then HcFnPreNorm(fn, h, rows, ...) in one launch,
// with their bits: each CTA computes its row's new streams from the old ones in shared memory for
// its fn product, and the row's last CTA writes them to h before running HcPreNorm's body. post
// and comb are read as HcPost's (the sub-layer before's, as its HcFnPreNorm wrote them) and then
// written as HcFnPreNorm's. One kernel fewer between a block's attention and its FFN on a decode
// step's path. The two ops instead with FusedStepsOn() false (fused_steps.h) or streams wider
// than the kernel's shared memory holds (hc * dim > 40,960). Throws CudaError as HcFnPreNorm.
// comb_rms as HcPreNorm's (comb is still read, for the HcPost).
void HcPostFnPreNorm(const DeviceWeight& fn, const float* f, float* h, int64_t rows,
                     float* products, const float* scale, const float* base,
                     const HcKernelShape& shape, const float* norm_w, float norm_eps, float* y,
                     float* post, float* comb, unsigned* arrivals, CudaStream& stream,
                     float* y_fp8 = nullptr, float* comb_rms = nullptr);

// The MoE's output as MoeCombine (moe_ops.h) gives it, for a launch that combines it itself:
// routed [rows, k, dim], shared [rows, dim], ids [rows, k] (k <= 16), and `out` [rows, dim], where
// the MoE's output is written only when MoeCombine's own launch computes it (the fallback below).
struct MoeCombineSource {
  const float* routed = nullptr;
  const float* shared = nullptr;
  const int32_t* ids = nullptr;
  int64_t k = 0;
  float* out = nullptr;
};

// HcPostFnPreNorm across a decode step's block boundary: the block before's MoE output, combined
// in this launch (MoeCombine's value for each element), into the streams h by HcPost with that
// block's FFN post_in and comb_in, then this block's fn product and HcPreNorm into products, y,
// post, comb (and y_fp8, comb_rms) as HcPostFnPreNorm: the same bits as MoeCombine(..., then_post
// into h) then HcFnPreNorm, which it runs instead with FusedStepsOn() false or streams wider than
// the kernel's shared memory. The combine then is no kernel of its own on the step's path
// (block_step.h: BlockDecode's combine_from). post_in and comb_in may be post and comb (read by
// every CTA before the last one writes). Throws CudaError as HcFnPreNorm, and for k past 16.
void HcCombinePostFnPreNorm(const DeviceWeight& fn, const MoeCombineSource& f, const float* post_in,
                            const float* comb_in, float* h, int64_t rows, float* products,
                            const float* scale, const float* base, const HcKernelShape& shape,
                            const float* norm_w, float norm_eps, float* y, float* post, float* comb,
                            unsigned* arrivals, CudaStream& stream, float* y_fp8 = nullptr,
                            float* comb_rms = nullptr);

// out [rows, hc, dim] (bf16): out_k = post_k * f + sum_j comb_jk * h_j. out may alias h.
void HcPost(const float* f, const float* h, const float* post, const float* comb, int64_t rows,
            const HcKernelShape& shape, float* out, CudaStream& stream);

// HcPost's arguments but f, for a kernel that writes f and takes HcPost on in the same launch
// (MoeCombine's then_post: the MoE's output straight into the residual streams).
struct HcPostArgs {
  const float* h = nullptr;
  const float* post = nullptr;
  const float* comb = nullptr;
  HcKernelShape shape;
  float* out = nullptr;
};
// Throws CudaError for a shape HcPost refuses.
void CheckHcPost(const HcPostArgs& a);

// The head's reduction: h [rows, hc, dim] and products [rows, hc] (fn . h) -> y [rows, dim]
// (bf16) = sum_j (sigmoid(mix_j * scale[0] + base_j) + eps) h_j, mix = product * rms factor.
void HcHead(const float* h, const float* products, int64_t rows, const float* scale,
            const float* base, const HcKernelShape& shape, float* y, CudaStream& stream);

// One complete block of a compressor state: kv_state / score_state [slots, width] -> entry
// [head_dim], the pooled values (rounded to bf16 when round_bf16, as Compress does next).
void CompressorPool(const float* kv_state, const float* score_state, int64_t width, int64_t ratio,
                    int64_t head_dim, bool overlap, bool round_bf16, float* entry,
                    CudaStream& stream);
// CompressorPool of `count` blocks at once: kv / score [count, slots, width] -> entries [count,
// head_dim], each block's entry the bits CompressorPool gives it alone (slots: 2 * ratio when
// overlapping, else ratio).
void CompressorPoolRows(const float* kv, const float* score, int64_t count, int64_t width,
                        int64_t ratio, int64_t head_dim, bool overlap, bool round_bf16,
                        float* entries, CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
