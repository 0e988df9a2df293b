// The MTP block's decode step on the device (forward/model.h Model::ForwardMtp, the reference's
// MTPBlock, for one row): x = e_proj(enorm(embed(next))) added to every stream of
// h_proj(hnorm(h)), the block's decode step (block_step.h BlockDecode, its own attention state at
// the MTP position), then the MTP head: its hc_head and norm with the model's output head weight
// (shared, not uploaded twice). Composed of the kernels of ops.h / mixing_ops.h plus one of its
// own (AddToStreamsBf16); tested against the CPU's Model::ForwardMtpLast on the tiny golden
// checkpoints in tests/engine/kernels/cuda_mtp_test.cc (skips without a device).
//
// The weights (DeviceMtp) are shared by every sequence; a sequence's MTP KV state is a
// DeviceAttentionState of the block's attention (model_step.h DeviceSequence::mtp). Routed
// experts the placement plan keeps on the host are computed there as in the main layers (the
// block is a DeviceBlock, moe_step.h's offload).
//
// Not thread-safe: one MtpDecode at a time per DeviceMtp (its scratch is shared).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cuda/block_step.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct DeviceMtp {
  HcKernelShape hc;
  DeviceWeight e_proj, h_proj;  // [dim, dim] each
  DeviceBuffer enorm, hnorm;    // [dim]
  DeviceBlock block;
  DeviceHcWeights hc_head;                 // the MTP head's mixing
  DeviceBuffer norm;                       // [dim] the MTP head's norm
  DeviceBuffer e, pe, hn, h, y, products;  // scratch

  // Takes the block (already on the device) and uploads the rest. Throws std::invalid_argument for
  // shapes that do not match `hc` (dim, streams), CudaError for the device.
  static DeviceMtp Create(const HcKernelShape& hc, const WeightRows& e_proj,
                          const WeightRows& h_proj, const std::vector<float>& enorm,
                          const std::vector<float>& hnorm, DeviceBlock block,
                          DeviceHcWeights hc_head, const std::vector<float>& norm,
                          CudaStream& stream);
};

// One MTP row at position `pos` (the block's positions in order from 0; `state` holds [0, pos)):
// streams [hc, dim] (device) the main model's final hc streams at `pos`, token [1] (device, a
// valid id) the token after `pos`; embed and head the model's embedding and output head. Writes
// logits [vocab] (device, fp32) unless `logits` is null (a row that only feeds the block's
// state). `streams` is not modified.
void MtpDecode(DeviceMtp& mtp, const DeviceWeight& embed, const DeviceWeight& head,
               DeviceAttentionState& state, const float* streams, const int32_t* token, int64_t pos,
               float* logits, CudaStream& stream);

// h[s, j] = bf16(e[j] + h[s, j]) for s < streams, j < dim (cpu::AddBroadcastBf16 with one row:
// the embedding projection added to every stream; mtp_math.h AddRoundBf16).
void AddToStreamsBf16(const float* e, int64_t streams, int64_t dim, float* h, CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
