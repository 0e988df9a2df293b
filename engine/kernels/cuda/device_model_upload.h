// The CUDA decode steps' device structures built from the CPU forward pass's weights
// (forward::CompressorWeights, AttentionWeights, MoeWeights, BlockWeights, ModelWeights as
// LoadModelWeights resolves them from a checkpoint): every matrix uploaded once in its stored
// format, the small vectors as fp32. What the engine's device path (device_decoder.h) and the
// device tests build their device models with.
//
// Every function throws CudaError for the device (out of memory names the size) and
// std::invalid_argument for weights whose shapes the kernels cannot take. The uploads are complete
// when they return (each Create synchronises the stream).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "engine/forward/compute.h"
#include "engine/forward/model_weights.h"
#include "engine/forward/rope.h"
#include "engine/forward/thread_pool.h"
#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/kernels/cuda/attention_step.h"
#include "engine/kernels/cuda/block_step.h"
#include "engine/kernels/cuda/compressor_ops.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/host_pinning.h"
#include "engine/kernels/cuda/model_step.h"
#include "engine/kernels/cuda/moe_step.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::kernels::cuda {

// The mHC shape of `c` (streams, dim, Sinkhorn iterations, epsilons).
HcKernelShape HcShapeOf(const ModelConfig& c);

// The config's score_func as the router kernel's enum.
RouteScoreFunc RouteScoreFuncOf(const std::string& name);

DeviceCompressor UploadCompressor(const forward::CompressorWeights& w, const forward::Rope& rope,
                                  float norm_eps, CudaStream& stream);

// An attention sub-layer (its compressor and indexer included) for sequences of up to `tokens`
// positions (the scratch is sized now; DeviceAttentionState::Create allocates a sequence's state).
DeviceAttention UploadAttention(const forward::AttentionWeights& w, const ModelConfig& c,
                                const forward::Rope& rope, int64_t tokens, CudaStream& stream);

// How the MoE layers of a model stream their host experts (moe_step.h MoeOffload::stream): the
// model's one set of pools and the row count from which a call streams.
struct MoeStreaming {
  std::shared_ptr<ExpertStreamPools> pools;
  int64_t min_rows = 0;
};

// A MoE layer; tid2eid (I64 or I32, as the checkpoint stores it) becomes an int32 table. Routed
// experts 0..on_device-1 go to the device (-1: all of them); the others stay in host memory and
// are computed there by `cx`'s CPU kernels (forward::RoutedExpertsForward, moe_step.h's offload)
// or, with `streaming`, streamed to the device for long calls: `w` and `cx` must then outlive the
// DeviceMoe.
DeviceMoe UploadMoe(const forward::MoeWeights& w, const ModelConfig& c, CudaStream& stream,
                    int64_t on_device = -1, const forward::Compute* cx = nullptr,
                    const MoeStreaming* streaming = nullptr);

// The expert offload of a whole model (engine/model/placement_plan.h's BlockExperts::on_device
// per main layer): layer l keeps experts 0..on_device[l]-1 on the device (all where the vector
// ends), the others on the host, computed by `cx` (which, with the weights, must outlive the
// model).
struct ExpertOffload {
  std::vector<int64_t> on_device;
  std::vector<int64_t> mtp_on_device;  // the same per MTP block (the plan's "mtp.M." blocks)
  const forward::Compute* cx = nullptr;
  // The plan's streaming (PlacementPlan::stream_pool_experts, stream_min_rows; 0: none): one pool
  // of that many experts for the whole model.
  int64_t stream_pool_experts = 0, stream_min_rows = 0;
};

// The CPU side of the expert offload: a thread pool and the CPU kernels in `fast` numerics (the
// GPU's contract, so the host experts give the device kernels' bits).
struct HostExpertCompute {
  // threads <= 0: every core; `numerics`: the device model's (the host experts' bits must be the
  // device kernels').
  HostExpertCompute(int threads, Numerics numerics);
  forward::ThreadPool pool;
  cpu::CpuOps ops;
  forward::Compute cx;
  // The host experts' bytes (HostExpertRanges): what cx reads of the checkpoint.
  std::vector<HostByteRange> ranges;
  // The host experts' pages, page-locked in place for the stream pool's copies (host_pinning.h;
  // UploadPlannedModel pins them unless told not to). Declared last: unregistered first.
  PinnedHostMemory pinned;
};

// Every weight product of `m` in the exact numerics (kernels/numerics_mode.h: double products and
// sums, DeviceWeight::exact) and its attention one CTA per head (DeviceAttention::
// split_attention off): the CPU's exact bits, for a model loaded with --numerics exact. The fast
// and exact modes differ only there. Marks the weights; queues nothing.
void UseExactNumerics(DeviceModel& m);

// The stored bytes (data and scales of w1, w2, w3) of the routed experts the split keeps on the
// host: layer l's experts on_device[l].. (none where on_device[l] < 0), the same for the MTP
// blocks by mtp_on_device.
std::vector<HostByteRange> HostExpertRanges(const forward::ModelWeights& w,
                                            const std::vector<int64_t>& on_device,
                                            const std::vector<int64_t>& mtp_on_device);

DeviceHcWeights UploadHc(const forward::HcWeights& w, CudaStream& stream);

DeviceBlock UploadBlock(const forward::BlockWeights& w, const ModelConfig& c,
                        const forward::Rope& rope, int64_t tokens, CudaStream& stream,
                        int64_t experts_on_device = -1, const forward::Compute* cx = nullptr,
                        const MoeStreaming* streaming = nullptr);

DeviceHead UploadHead(const forward::HcWeights& hc_head, const std::vector<float>& norm,
                      const forward::WeightMatrix& head, const ModelConfig& c, CudaStream& stream);

// An MTP block (mtp_step.h): its projections, norms, block (sized for `tokens` positions, experts
// 0..experts_on_device-1 on the device as UploadBlock) and head mixing; the head weight is the
// model's.
DeviceMtp UploadMtp(const forward::MtpWeights& w, const ModelConfig& c, const forward::Rope& rope,
                    int64_t tokens, CudaStream& stream, int64_t experts_on_device = -1,
                    const forward::Compute* cx = nullptr, const MoeStreaming* streaming = nullptr);

// The stream pools for a model's routed experts (the first MoE layer's shapes; every layer and
// MTP block shares them): `capacity` experts each (none without routed experts: nullptr).
std::shared_ptr<ExpertStreamPools> MakeExpertStreamPools(const forward::ModelWeights& w,
                                                         int64_t capacity);

// Told (0, total) as an upload begins, then after each block (decoder layers, then the head, then
// the MTP blocks): blocks done of the total, for a load's progress line (a V4-Flash upload is
// 140-odd GB; the first call starts its clock and says at once that the upload is under way).
using UploadProgress = std::function<void(int64_t done, int64_t total)>;

// Every decoder layer, the head and the MTP blocks, for sequences of up to `tokens` positions
// (the weights only: DeviceSequence::Create makes each sequence's state); `offload` keeps some
// routed experts on the host (with stream pools, their costs measured last: expert_stream_costs.h
// MeasureExpertStreamCosts); `progress` (if set) is told as it begins and after each block.
// `cancel` (if set) is looked at before each block: once cancelled, the upload stops there and
// throws std::runtime_error "the weights' upload was cancelled after D of T blocks" (what it
// uploaded is freed as the exception unwinds).
DeviceModel UploadModel(const forward::ModelWeights& w, const ModelConfig& c, int64_t tokens,
                        CudaStream& stream, const ExpertOffload* offload = nullptr,
                        const UploadProgress& progress = {}, const CancelToken* cancel = nullptr);

}  // namespace dsagent::engine::kernels::cuda
