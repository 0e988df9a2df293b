#include "engine/kernels/cuda/device_row_undo.h"

#include "engine/kernels/cuda/device_sequence_copy.h"

namespace dsagent::engine::kernels::cuda {

void DeviceRowUndo::Keep(const ModelConfig& config, const DeviceModel& m, DeviceSequence& seq,
                         CudaStream& stream) {
  CheckLayers(m, seq, config);
  pos_ = -1;
  ranges_ = PlanRowUndo(config, m.context, seq.pos);
  const size_t need = RangeBytes(ranges_);
  if (kept_.bytes() < need) kept_ = DeviceBuffer(need);
  size_t at = 0;
  for (const ByteRange& r : ranges_) {
    DeviceBuffer& b = SequenceBufferOf(seq, r.layer, r.buffer, config, m.context);
    CopyDeviceToDevice(kept_.as<unsigned char>() + at, b.as<unsigned char>() + r.offset, r.bytes,
                       stream);
    at += r.bytes;
  }
  pos_ = seq.pos;
}

Expected<Ok, std::string> DeviceRowUndo::TakeBack(const ModelConfig& config, const DeviceModel& m,
                                                  DeviceSequence& seq, CudaStream& stream) {
  if (!CanTakeBack(seq)) {
    return MakeUnexpected("cannot take back position " + std::to_string(pos_) +
                          ": the sequence's last row is at " + std::to_string(seq.pos - 1) +
                          " (the last call did not ask for it, or a row was taken back since)");
  }
  CheckLayers(m, seq, config);
  size_t at = 0;
  for (const ByteRange& r : ranges_) {
    DeviceBuffer& b = SequenceBufferOf(seq, r.layer, r.buffer, config, m.context);
    CopyDeviceToDevice(b.as<unsigned char>() + r.offset, kept_.as<unsigned char>() + at, r.bytes,
                       stream);
    at += r.bytes;
  }
  seq.pos -= 1;
  pos_ = -1;
  return Ok{};
}

}  // namespace dsagent::engine::kernels::cuda
