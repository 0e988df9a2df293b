// Routed experts kept in host memory, streamed into device memory for one MoE call (issue 17's
// "computed on the CPU kernels or streamed"; moe_step.h MoeRows): a pool of entries, each room for
// one expert's weight, filled per call from the expert's stored rows, and the view table the
// expert kernels then read (ops.h UploadExpertTable: the set's views with the streamed experts
// pointing at their entries), so the same kernels give the same bits. Which experts a call
// streams: expert_stream_choice.h.
//
// One pool per weight of an expert (ExpertStreamPools) serves every layer of a model whose expert
// sets share a shape: the calls run in stream order, each call's copies queued after the previous
// call's products. Not thread-safe: one call at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/expert_stream_choice.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct ExpertStreamPool {
  int64_t capacity = 0;
  std::vector<DeviceWeight> entries;  // [capacity], allocated once, filled per call
  DeviceBuffer table;                 // the call's view table (UploadExpertTable)
  // Each turn's view table as built on the host, page-locked (a turn's upload then never waits
  // for the turn before): room for `turns` tables of `experts` views.
  PinnedHostBuffer staged_tables;
  int64_t experts = 0, turns = 0;

  // Room for `capacity` experts of `rows` x `cols` in `format`, and for the tables of as many
  // turns as a call over `experts` experts can take (0: a table built in pageable memory). Throws
  // std::invalid_argument for a shape the format cannot have or a negative capacity, CudaError
  // for the device.
  static ExpertStreamPool Create(WeightFormat format, int64_t rows, int64_t cols, int64_t capacity,
                                 int64_t experts = 0);
};

// The pools of one model: its experts' w1, w2 and w3, and what streaming a host expert costs
// against the CPU's products (measured at load: expert_stream_costs.h; until then, and with
// StreamChoiceByCapacity, a call streams as many as the pools hold).
struct ExpertStreamPools {
  ExpertStreamPool w1, w2, w3;
  ExpertStreamCosts costs;
};

// Whether calls fill the pools whatever the measured costs (as before they were measured):
// DSAGENT_CUDA_STREAM_CHOICE=capacity, or SetStreamChoiceByCapacity (tests, benchmarks' A/B).
bool StreamChoiceByCapacity();
void SetStreamChoiceByCapacity(bool on);

// Queues on `stream` the copies of experts[0..n) (each kept on the host in `set`: >= set.on_device)
// from `host` (every expert's stored rows, as the set was uploaded from; pageable or pinned host
// memory, which must stay as it is until the copies ran) into the pool's entries 0..n-1, and the
// table. Returns the table's views (valid until the pool's next call): for `turn` 0 the set's
// experts on the device and these; for a later turn of the same call (more experts than the pool
// holds: its entries filled again, in stream order after the products of the turn before) these
// alone. A turn's table is staged in the pool's page-locked memory, which the next call's same
// turn rewrites: the work queued before must have run by then (MoeRows waits for its routing
// first). Throws std::invalid_argument for an expert on the device or out of range, an expert of
// another format or shape than the pool's, or n > capacity.
ExpertSetViews StreamExperts(const DeviceWeightSet& set, const std::vector<WeightRows>& host,
                             const int32_t* experts, int64_t n, ExpertStreamPool& pool,
                             CudaStream& stream, int64_t turn = 0);

}  // namespace dsagent::engine::kernels::cuda
