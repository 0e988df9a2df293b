// What streaming a routed expert kept in host memory costs a MoE call against computing it on the
// CPU (expert_stream_choice.h ExpertStreamCosts), measured once when a model with stream pools is
// loaded (device_model_upload.h UploadModel), on the machine it runs on: the PCIe link, whether
// the host experts are page-locked (host_pinning.h) and the host's cores decide the balance, and
// no constant fits them all. The calls then stream as many of their most-chosen host experts as
// end the call soonest (BalancedStreamCount), in turns of the pools' capacity where that is more
// than they hold.
#pragma once

#include <cstdint>
#include <string>

#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/expert_stream_choice.h"
#include "engine/kernels/cuda/moe_step.h"

namespace dsagent::engine::kernels::cuda {

// Times, on `m` (a layer with host experts and stream pools; all zero otherwise), the copies of up
// to forward::kExpertsMeasured of its host experts into the pools (StreamExperts, synchronised; the
// best of three), the device's products of them from there (MoeRows's grouped kernel, w1, w3 and
// w2, on 1 and on forward::kRowsMeasured rows each) and the CPU's (m.host_experts, the model's own
// function: forward/routed_experts_cost.h): copy_seconds per expert, whether queueing the copies
// held the host until they were done (more than half their time), and the device's and the
// CPU's lines (an expert's cost + rows x a row's). Leaves nothing queued; what the pools held is
// overwritten, as by any call. Throws CudaError.
ExpertStreamCosts MeasureExpertStreamCosts(DeviceMoe& m, CudaStream& stream);

// One line for the load's placement report: the costs, the copy's rate for `expert_bytes`,
// and what the calls of `min_rows` rows or more then do; unmeasured costs say so.
std::string DescribeExpertStreamCosts(const ExpertStreamCosts& costs, int64_t expert_bytes,
                                      int64_t min_rows);

}  // namespace dsagent::engine::kernels::cuda
