// Where each tensor of a model lives when it runs on a GPU (issue 17, "expert offload"): the
// attention, shared experts, norms, gates, hyper-connection mixes, embedding and head always on
// the device; routed experts on the device while they fit in what is left after a reserve for the
// KV state and activations, the rest in host memory, computed by the CPU kernels or, for long
// calls, streamed into a device pool (PlacementOptions).
//
// Routed experts are placed round robin by expert index over the main layers (expert 0 of every
// layer, then expert 1, ...), so every layer keeps the same share of its experts on the device
// (within one) and no layer's MoE becomes the CPU-bound straggler; MTP blocks, used only for
// speculation, get what is left after the main layers. Pure and device-free: it plans for a
// device size, whether or not there is a device (`dsagent engine inspect --gpu-memory`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/model/model_config.h"
#include "engine/model/tensor_inventory.h"

namespace dsagent::engine {

struct BlockExperts {
  std::string prefix;  // "layers.3." or "mtp.0."
  bool mtp = false;
  int experts = 0;    // routed experts in this block
  int on_device = 0;  // experts 0..on_device-1 are on the device (the others on the host)
  int64_t bytes_per_expert = 0;  // w1 + w2 + w3 with their scales
};

struct PlacementPlan {
  int64_t device_bytes = 0;    // the device's memory (or the --gpu-memory cap)
  int64_t reserve_bytes = 0;   // kept free for the KV state, activations and workspace
  int64_t resident_bytes = 0;  // everything but routed experts
  int64_t device_expert_bytes = 0, host_expert_bytes = 0;
  int64_t experts_total = 0, experts_on_device = 0;
  std::vector<BlockExperts> blocks;  // in inventory order

  // Streaming (PlacementOptions): a device pool for this many routed experts (of the largest
  // block's size), taken from the experts' budget, and the row count from which a MoE call
  // streams the host experts its rows chose instead of computing them on the CPU. 0: none.
  int64_t stream_pool_experts = 0, stream_pool_bytes = 0, stream_min_rows = 0;

  bool all_on_device() const { return experts_on_device == experts_total; }
  int64_t device_used_bytes() const {
    return resident_bytes + device_expert_bytes + stream_pool_bytes;
  }
};

// How routed experts kept on the host run (issue 17: "computed on the CPU kernels or streamed,
// whichever the placement planner picks"). The defaults below are the runtime's; a plan made
// without options computes every host expert on the CPU.
struct PlacementOptions {
  // Pool entries to reserve when some experts stay on the host (halved while the expert budget
  // cannot hold them; none below one). 0: no streaming.
  int64_t stream_pool_experts = 0;
  // MoE calls of at least this many rows stream (prefill chunks); shorter ones (decode steps,
  // small batches) compute their host experts on the CPU.
  int64_t stream_min_rows = 0;
};
// The runtime's choice, a heuristic not yet measured on a GPU: a pool of 64 experts (0.84 GiB for
// V4-Flash's FP4 experts) serves a prefill chunk's most-chosen host experts (chunks of 256 rows
// since session 20: most host experts are chosen, the pool takes the 64 chosen most); a decode step
// or a batch of up to 31 rows reads each chosen expert once or a few times, where copying it over
// PCIe costs about as much as the CPU's product.
inline constexpr PlacementOptions kRuntimePlacementOptions{.stream_pool_experts = 64,
                                                           .stream_min_rows = 32};

// What the planner keeps free on the device for running `sequences` sequences of up to `context`
// positions each: their KV state as the device keeps it (the bf16 window ring, compressed entries
// and indexer keys, and the compressors' fp32 state: kv::KvLayout::kReference, every layer and MTP
// block) and a workspace (the CUDA context and kernel images, the decode steps' scratch, and the
// activations of one prefill chunk per sequence). An estimate on the safe side, not a measurement:
// the KV part is exact, the workspace a fixed allowance (kDeviceWorkspaceBytes) plus the
// activations of kReserveChunkTokens rows.
struct PlacementReserve {
  int64_t kv_bytes = 0;
  int64_t workspace_bytes = 0;
  int64_t total() const { return kv_bytes + workspace_bytes; }
};

// The CUDA context, the kernels' module images and the decode steps' scratch buffers.
inline constexpr int64_t kDeviceWorkspaceBytes = 1LL << 30;
// Rows of one prefill chunk (generate/generator.h kPrefillChunkTokens).
inline constexpr int64_t kReserveChunkTokens = 256;

// context <= 0: max_position_embeddings; sequences < 1 counts as 1.
PlacementReserve PlacementReserveFor(const ModelConfig& config, int64_t context, int sequences);

// Plans `tensors` (ExpectedTensors of the model's config) for a device of `device_bytes` with
// `reserve_bytes` kept free. Fails, saying how much is needed, when the tensors that must be on
// the device do not fit.
Expected<PlacementPlan, std::string> PlanPlacement(const std::vector<ExpectedTensor>& tensors,
                                                   int64_t device_bytes, int64_t reserve_bytes,
                                                   const PlacementOptions& options = {});

// The plan as printed at load and by `engine inspect`: totals, then one line per run of blocks
// with the same split.
std::string DescribePlacement(const PlacementPlan& plan);

}  // namespace dsagent::engine
