// The SequenceModel generation runs on (generate/sequence_model.h), for a loaded model and a device
// (kernels/device_spec.h): the CPU forward pass (CpuSequenceModel) for cpu; for cuda[:N] the device
// model (kernels/cuda/device_sequence_model.h), its weights placed by the planner
// (model/placement_plan.h) for the device's free memory or the gpu_memory cap below it
// (kernels/cuda_probe.h PlanningMemoryOf), sized for `sequences`
// sequences of up to `context` positions. Routed experts that do not fit stay in host memory and
// are computed by `host_threads` CPU threads (the expert offload). Lives in dsagent_engine_runtime,
// which links the CUDA backend when the build has it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/cancel.h"
#include "common/expected.h"
#include "engine/forward/model.h"
#include "engine/generate/generator.h"
#include "engine/generate/sequence_model.h"
#include "engine/kernels/device_spec.h"
#include "engine/kernels/numerics_mode.h"

namespace dsagent::engine {

struct SequenceModelChoice {
  kernels::DeviceSpec device;  // cpu (default) or cuda:N
  int64_t gpu_memory = 0;      // cuda: use at most this many bytes of the GPU; 0: all it has free
  int64_t context = 0;         // cuda: positions a sequence holds; <= 0: max_position_embeddings
  int sequences = 1;           // cuda: sequences the plan keeps room for
  int host_threads = 0;        // cuda: CPU threads for experts kept on the host; <= 0: all cores
  // cuda: told as the weights' upload begins (0, total) and after each block, if set.
  std::function<void(int64_t done, int64_t total)> upload_progress;
  // cuda: stops the weights' upload between blocks once cancelled (the result is then an error
  // saying so).
  CancelToken cancel;
};

struct ChosenSequenceModel {
  std::unique_ptr<SequenceModel> model;
  std::string placement;      // cuda: the plan as printed at load (model/placement_plan.h); cpu: ""
  int64_t context_limit = 0;  // positions a sequence may hold; 0: max_position_embeddings
};

// Error (never an exception): the device cannot be used here (DeviceUnavailable's words), the
// model does not fit the device even with every routed expert on the host (how much is needed),
// a context outside [1, max_position_embeddings], or the device's own error (out of memory). The
// model must outlive the result.
Expected<ChosenSequenceModel, std::string> MakeSequenceModel(forward::Model& model,
                                                             const SequenceModelChoice& choice);

}  // namespace dsagent::engine
