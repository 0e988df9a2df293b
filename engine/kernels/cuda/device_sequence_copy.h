// Snapshot and restore of a device sequence (model_step.h DeviceSequence) to and from the host
// layout, forward::SequenceState: what the prefix caches and the KV store (--kv-dir) keep, so a
// state written by the CPU engine continues on the GPU and back. The layout mapping is host code
// (sequence_state_layout.h, tested without a device); this runs its copies with cudaMemcpy.
//
// The MTP blocks' part (SequenceState::mtp, mtp_pos) goes with it: the device sequence holds it
// (DeviceSequence::mtp), so a state the CPU engine drafted with continues drafting on the GPU.
//
// Tested on a device in tests/engine/kernels/cuda_sequence_copy_test.cc (restore then decode =
// decoding straight through; a snapshot continues in the CPU engine within the fast contract).
#pragma once

#include <string>

#include "common/expected.h"
#include "engine/forward/sequence_state.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/model_step.h"
#include "engine/kernels/cuda/sequence_state_layout.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::kernels::cuda {

// Puts `state`'s layers and MTP blocks into `seq` (made by DeviceSequence::Create(m)); seq.pos
// becomes state.pos and seq.mtp_pos state.mtp_pos. `config` is the model's that `m` was uploaded
// from. Error, with `seq` untouched: a state that does not fit (CheckStateFitsDevice's words).
// Throws CudaError for the device (then `seq` is in an unknown state: Reset it). Complete when it
// returns.
Expected<Ok, std::string> RestoreSequence(const DeviceModel& m, const ModelConfig& config,
                                          const forward::SequenceState& state, DeviceSequence& seq,
                                          CudaStream& stream);

// `seq`'s state in the host layout (SnapshotShape(config, seq.pos, seq.mtp_pos) filled from the
// device). Throws CudaError for the device. Waits for the stream.
forward::SequenceState SnapshotSequence(const DeviceModel& m, const ModelConfig& config,
                                        const DeviceSequence& seq, CudaStream& stream);

// Throws CudaError when `seq` was not made for `m` / `config` (its layer or MTP block count).
void CheckLayers(const DeviceModel& m, const DeviceSequence& seq, const ModelConfig& config);

// The device buffer `buffer` of layer `layer` of `seq` (sequence_state_layout.h's numbering: main
// layers, then MTP blocks) of a device model of `context` positions. Throws CudaError when the
// layer has no such buffer or its size is not SequenceBufferBytes' (the layouts disagree).
DeviceBuffer& SequenceBufferOf(DeviceSequence& seq, int64_t layer, SequenceBuffer buffer,
                               const ModelConfig& config, int64_t context);

}  // namespace dsagent::engine::kernels::cuda
