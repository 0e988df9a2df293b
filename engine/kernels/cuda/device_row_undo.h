// Taking back a device sequence's last decode row (speculative decoding: the row of a rejected
// draft), the device's twin of forward/last_row_undo.h: before the row, Keep copies what it will
// overwrite (row_undo_plan.h's byte ranges: the window-ring row, the compressors' slot or, when the
// row completes a block, their slots and the entry and indexer key it appends) device to device
// into a buffer of its own; TakeBack copies them back and steps the position back. The sequence is
// then, byte for byte in every buffer, what it was before the row, so HostState gives, field for
// field, the state without the row (tests/engine/kernels/cuda_mtp_test.cc checks that on a GPU).
// The MTP blocks' state is not touched by a main-model row, so it is not kept.
//
// Not thread-safe: the caller serialises calls on the sequence (device_sequence_model.h's mutex).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/model_step.h"
#include "engine/kernels/cuda/row_undo_plan.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::kernels::cuda {

class DeviceRowUndo {
 public:
  // Before the row at seq.pos runs (queued on `stream`, ahead of the row): keeps what it will
  // overwrite. `m` is the model `seq` was made by, `config` its checkpoint's. The keep buffer grows
  // once to the largest plan and is reused. Throws CudaError for the device.
  void Keep(const ModelConfig& config, const DeviceModel& m, DeviceSequence& seq,
            CudaStream& stream);

  // Whether a row is kept for `seq` at its last position (Keep ran and the row since).
  bool CanTakeBack(const DeviceSequence& seq) const { return pos_ >= 0 && pos_ == seq.pos - 1; }

  // Copies the kept bytes back and steps seq.pos back by one (queued on `stream`; the next call on
  // the stream sees the restored state). Error, with `seq` untouched: no row kept for its last
  // position. Throws CudaError for the device.
  Expected<Ok, std::string> TakeBack(const ModelConfig& config, const DeviceModel& m,
                                     DeviceSequence& seq, CudaStream& stream);

  // Forgets the kept row (another call ran on the sequence).
  void Clear() { pos_ = -1; }

 private:
  int64_t pos_ = -1;  // the kept row's position; -1: none
  std::vector<ByteRange> ranges_;
  DeviceBuffer kept_;
};

}  // namespace dsagent::engine::kernels::cuda
