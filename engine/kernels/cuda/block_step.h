// One transformer block's decode step on the device (forward/block.h BlockForward for one token)
// and the head's (HeadForward): the mHC pre/post around the attention and MoE steps with their
// norms, and hc_head -> norm -> logits. Composed of attention_step.h, moe_step.h and the kernels;
// tested token by token against the CPU BlockForward / HeadForward in
// tests/engine/kernels/cuda_forward_ops_test.cc (skips without a device).
//
// Not thread-safe: one call at a time per DeviceBlock / DeviceHead.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cuda/attention_step.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/mixing_ops.h"
#include "engine/kernels/cuda/moe_step.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/side_stream.h"

namespace dsagent::engine::kernels::cuda {

// One mHC mixing (forward::HcWeights) on the device: fn [mix, hc*dim], base [mix], scale.
struct DeviceHcWeights {
  DeviceWeight fn;
  DeviceBuffer base, scale;
  static DeviceHcWeights Upload(const WeightRows& fn, int64_t mix, const std::vector<float>& base,
                                const std::vector<float>& scale, CudaStream& stream);
};

struct DeviceBlock {
  HcKernelShape hc;  // streams, dim, Sinkhorn iterations, epsilons
  DeviceAttention attn;
  DeviceMoe ffn;
  DeviceHcWeights hc_attn, hc_ffn;
  DeviceBuffer attn_norm, ffn_norm;         // [dim]
  DeviceBuffer products, y, f, post, comb;  // scratch
  // HcFnPreNorm's count of the fn product's finished CTAs (mixing_ops.h): zero between calls.
  DeviceBuffer hc_arrivals;
  // The decode step's comb beside each sub-layer (HcComb from the rms factor in comb_rms): the
  // Sinkhorn iterations off the step's path, with side streams on (side_stream.h).
  DeviceBuffer comb_rms;
  std::unique_ptr<SideStream> comb_side;

  // Takes the sub-layers (already on the device) and uploads the block's own weights.
  static DeviceBlock Create(const HcKernelShape& hc, DeviceAttention attn, DeviceMoe ffn,
                            DeviceHcWeights hc_attn, DeviceHcWeights hc_ffn,
                            const std::vector<float>& attn_norm, const std::vector<float>& ffn_norm,
                            CudaStream& stream);
};

// h [hc, dim] (device, bf16 values) of the token at `pos` (positions in order from 0), updated in
// place; `state` the sequence's state of this block's attention; token [1] its id on the device
// (hash MoE layers need it; may be null otherwise).
//
// A step of several blocks may hand each block's MoE output to the next block's first launch,
// which combines it into the streams as it computes its own fn products (HcCombinePostFnPreNorm):
// one kernel fewer on the step's path per block boundary, the same bits. leave_combine: this
// block's step ends before its MoE combine, so h does not yet hold its output; the next
// BlockDecode of the step must get combine_from = &b (b's buffers hold the output until then).
// combine_from: the block before, which left its combine; null where h holds the streams.
void BlockDecode(DeviceBlock& b, DeviceAttentionState& state, float* h, int64_t pos,
                 const int32_t* token, CudaStream& stream, DeviceBlock* combine_from = nullptr,
                 bool leave_combine = false);

// BlockDecode over many rows (forward/block.h BlockForward over a LayerChunk list): h [rows, hc,
// dim] the chunks' rows one after another (chunks: this block's state of each, its position and
// rows), tokens [rows] (device; hash layers). The mHC mixings, norms and MoE on all rows at once,
// the attention by AttentionRows (`sequences`: its argument, for a batched decode step). Every
// row's result is BlockDecode's bits for that token. Blocks run one after another may hand the
// MoE's output on as BlockDecode's do: leave_combine, this block stops before its MoE combine
// and HcPost (the output's pieces stay in scratch); combine_from, the block before that left it,
// whose output the first launch here combines into h (HcCombinePostFnPreNorm): two kernels
// fewer per block boundary, the same bits.
void BlockRows(DeviceBlock& b, const AttentionChunk* chunks, int64_t n_chunks, float* h,
               int64_t rows, const int32_t* tokens, DeviceRows& scratch, CudaStream& stream,
               const SequenceRows& sequences = {}, const DeviceBlock* combine_from = nullptr,
               bool leave_combine = false);

struct DeviceHead {
  HcKernelShape hc;
  DeviceHcWeights hc_head;
  DeviceBuffer norm;  // [dim]
  DeviceWeight head;  // [vocab, dim]
  DeviceBuffer products, y;
  static DeviceHead Create(const HcKernelShape& hc, DeviceHcWeights hc_head,
                           const std::vector<float>& norm, const WeightRows& head, int64_t vocab,
                           CudaStream& stream);
};

// logits [vocab] (device, fp32) = head . norm(hc_head(h)), the head's product in the model's
// numerics (MatVec; exact when the head is marked so).
void HeadDecode(DeviceHead& head, const float* h, float* logits, CudaStream& stream);

// HeadDecode over `rows` rows: h [rows, hc, dim] -> logits [rows, vocab], the head's weight read
// once for them; every row HeadDecode's bits.
void HeadRows(DeviceHead& head, const float* h, int64_t rows, DeviceRows& scratch, float* logits,
              CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
