// The whole model's decode step on the device (forward/model.h Model::Forward for one token, no
// MTP): the embedding into the hc streams, every block, the head. Composed of block_step.h; tested
// against the CPU Model and the golden reference logits of the tiny checkpoints in
// tests/engine/kernels/cuda_model_test.cc (skips without a device).
//
// Not thread-safe: one ModelDecode at a time per DeviceModel.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cuda/block_step.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct DeviceModel {
  HcKernelShape hc;
  int64_t vocab = 0;
  DeviceWeight embed;  // [vocab, dim]
  std::vector<DeviceBlock> layers;
  DeviceHead head;
  DeviceBuffer h;  // [hc, dim] the token's streams

  // Takes the blocks and the head (already on the device) and uploads the embedding.
  static DeviceModel Create(const HcKernelShape& hc, const WeightRows& embed, int64_t vocab,
                            std::vector<DeviceBlock> layers, DeviceHead head, CudaStream& stream);
};

// The token at `pos` (token [1] on the device, a valid id; positions in order from 0) through
// every layer -> logits [vocab] (device, fp32).
void ModelDecode(DeviceModel& m, const int32_t* token, int64_t pos, float* logits,
                 CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
