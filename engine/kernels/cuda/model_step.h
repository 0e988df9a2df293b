// The whole model's decode step on the device (forward/model.h Model::Forward for one token): the
// embedding into the hc streams, every block, the head. The MTP blocks ride along (DeviceModel::
// mtp, DeviceSequence::mtp) for mtp_step.h's MtpDecode; ModelDecode does not run them. Composed of
// block_step.h; tested against the CPU Model and the golden reference logits of the tiny
// checkpoints in tests/engine/kernels/cuda_model_test.cc (skips without a device).
//
// The weights (DeviceModel) are shared: any number of DeviceSequences (one sequence's KV state
// each: forward::SequenceState's main layers on the device) run on one DeviceModel, one call at a
// time. Snapshot/restore of a DeviceSequence to the host layout: device_sequence_copy.h.
//
// Not thread-safe: one ModelDecode at a time per DeviceModel (its scratch is shared by every
// sequence).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cuda/block_step.h"
#include "engine/kernels/cuda/decode_pieces.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/mtp_step.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct DeviceModel {
  HcKernelShape hc;
  int64_t vocab = 0;
  int64_t context = 0;  // positions a sequence holds (the attention layers' capacity)
  DeviceWeight embed;  // [vocab, dim]
  std::vector<DeviceBlock> layers;
  DeviceHead head;
  DeviceBuffer h;  // [hc, dim] the token's streams
  // The checkpoint's MTP blocks (mtp_step.h; UploadModel adds them): speculative decoding's
  // drafter, not part of ModelDecode.
  std::vector<DeviceMtp> mtp;

  // Takes the blocks and the head (already on the device) and uploads the embedding.
  // `context`: the positions the layers were sized for (UploadModel's `tokens`).
  static DeviceModel Create(const HcKernelShape& hc, const WeightRows& embed, int64_t vocab,
                            int64_t context, std::vector<DeviceBlock> layers, DeviceHead head,
                            CudaStream& stream);
};

// The first main layer's MoE that streams host experts (every such layer shares the model's one
// set of stream pools, device_model_upload.h), or null when none does.
DeviceMoe* FirstStreamingMoe(DeviceModel& m);

// One sequence on the device: its position and every decoder layer's attention state (window
// ring, compressed entries, indexer keys, compressors' partial blocks), and the same for each MTP
// block (forward::SequenceState::mtp, at mtp_pos; sized like a main layer of its ratio).
struct DeviceSequence {
  int64_t pos = 0;  // tokens decoded = the next token's position
  std::vector<DeviceAttentionState> layers;
  int64_t mtp_pos = 0;                    // rows the MTP blocks have run (MtpDecode)
  std::vector<DeviceAttentionState> mtp;  // one per DeviceModel::mtp

  // An empty sequence (position 0) with room for m.context positions; complete when it returns.
  // Throws CudaError (out of memory names the size).
  static DeviceSequence Create(const DeviceModel& m, CudaStream& stream);
  // Back to position 0 (mtp_pos 0) with an empty state, queued on `stream` (no allocation).
  void Reset(const DeviceModel& m, CudaStream& stream);
};

// The token at seq.pos (token [1] on the device, a valid id) through every layer -> logits
// [vocab] (device, fp32); seq.pos advances. Throws std::out_of_range, before queuing anything,
// when the sequence is full (seq.pos >= m.context) or was made for another layer count.
void ModelDecode(DeviceModel& m, DeviceSequence& seq, const int32_t* token, float* logits,
                 CudaStream& stream);

// ModelDecode, its launches in `pieces` (decode_pieces.h: the embedding with the first blocks,
// the head with the last; the same launches in the same order).
void ModelDecodePieces(DeviceModel& m, DeviceSequence& seq, const int32_t* token, float* logits,
                       const DecodePieces& pieces, CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
