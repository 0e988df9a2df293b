// DeviceDecoder: one sequence of a loaded forward::Model decoded on a GPU, token by token — the
// engine's entry point into the CUDA decode step (model_step.h ModelDecode). Create() checks the
// placement plan, makes the device current, uploads every weight the plan puts on the device
// (device_model_upload.h) and sizes the sequence's KV state for `context` positions; Decode()
// runs one token through every layer and the head and returns its logits.
//
// Usage:
//   auto plan = PlanPlacement(ExpectedTensors(model.config()), capacity, reserve);
//   auto decoder = DeviceDecoder::Create(model, *plan, {.device = 0, .context = 4096});
//   for (int32_t t : tokens) logits = (*decoder)->Decode(t);   // positions 0, 1, 2, ...
//
// Routed experts the plan keeps in host memory are computed there by the CPU kernels (the expert
// offload, moe_step.h), on DeviceDecoderOptions::host_threads threads. What it does not do yet
// (engine/kernels/README.md, "Not here yet"): MTP, prefill of several tokens per call, batches. The
// decoder owns one DeviceSequence on its own DeviceModel (model_step.h); several sequences on one
// copy of the weights are DeviceSequenceModel's (device_sequence_model.h). The numerics are the
// GPU's `fast` contract (kernels/numerics_mode.h): within it of the CPU engine's fast decode, not
// bit-identical.
//
// Thread-safety: one call at a time per decoder; the Model must outlive it (the upload reads its
// mapped weights; nothing is read afterwards).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "engine/forward/model.h"
#include "engine/model/placement_plan.h"

namespace dsagent::engine::kernels::cuda {

struct DeviceModel;
struct DeviceSequence;
struct HostExpertCompute;
class CudaStream;
class DeviceBuffer;

// Rows per ModelRows call of DeviceSequenceModel (DeviceDecoderOptions::chunk_rows): a prompt's
// chunk, or a batch's rows. Each weight is read, and with the register-tiled kernel decoded,
// once per 8 rows of a chunk, and a chunk's 256 x k routed slots give each chosen expert a few
// rows (about 6 for V4-Flash's 256 experts, top 6) instead of one or two. The scratch
// (model_rows.h DeviceRows, DeviceRowsBytes) is sized for it at Create, plus the logits [rows,
// vocab]: by its formula about 0.9 MB + 0.5 MB per row for V4-Flash's shapes, plus 0.5 MB of
// logits per row: about 260 MB at 256 rows, inside the planner's workspace allowance
// (placement_plan.h kDeviceWorkspaceBytes; its kReserveChunkTokens is the generator's 256-token
// prefill chunk, which is then one call).
inline constexpr int64_t kDeviceChunkRows = 256;
inline constexpr int64_t kMaxDeviceChunkRows = 1024;

struct DeviceDecoderOptions {
  int device = 0;        // cuda:N
  int64_t context = 0;   // positions the state holds, >= 1 (not defaulted: the state is sized now)
  int host_threads = 0;  // CPU threads for the experts kept on the host; <= 0: all cores
  // DeviceSequenceModel only: decode steps (one token, or one token of each of a batch's
  // sequences) as CUDA graphs (decode_graph.h) when every expert is on the device.
  // DSAGENT_CUDA_GRAPHS=off turns them off too.
  bool graphs = true;
  // The routed experts kept on the host page-locked in place (host_pinning.h), so that streaming
  // them to the device is direct DMA; off: they stay pageable (copies staged by the driver).
  bool pin_host_experts = true;
  // DeviceSequenceModel only: rows per ModelRows call, 1..kMaxDeviceChunkRows (tests take fewer
  // to make a prompt span chunks). Past kMaxGroupedSlots / top-k rows (341 for top 6) a call's
  // routed slots are not grouped by expert (matvec_tiled.h): they run slot by slot.
  int64_t chunk_rows = kDeviceChunkRows;
  // Told as the weights' upload begins (0, total) and after each block it puts on the device
  // (done, total), if set.
  std::function<void(int64_t done, int64_t total)> upload_progress;
  // Stops the weights' upload between blocks once cancelled: Create then fails saying so.
  CancelToken cancel;
};

// How many routed experts of each decoder layer `plan` puts on the device (experts 0..n-1 of
// layer l; the rest stay in host memory): the expert offload's split. The MTP blocks' entries
// are ExpertsOnDevicePerMtpBlock's. Error for a block that names no decoder layer
// of the `layers` ("layers.N."), or one named twice. Pure; tested without a device.
Expected<std::vector<int64_t>, std::string> ExpertsOnDevicePerLayer(const PlacementPlan& plan,
                                                                    int64_t layers);

// The same for the MTP blocks (the plan's "mtp.M." blocks): how many routed experts of each of
// the `blocks` MTP blocks stay on the device (-1: every one). Error for a block that names no MTP
// block, or one named twice. Pure; tested without a device.
Expected<std::vector<int64_t>, std::string> ExpertsOnDevicePerMtpBlock(const PlacementPlan& plan,
                                                                       int64_t blocks);

// Why a device model of `config` (DeviceDecoder, DeviceSequenceModel) cannot be made with `plan`
// and `options` (nullopt: it can): a plan that does not fit the config (ExpertsOnDevicePerLayer),
// or a context outside [1, max_position_embeddings]. `who` starts the message ("device decoder").
// Pure; checked before anything touches the device.
std::optional<std::string> DeviceModelRefuses(const ModelConfig& config, const PlacementPlan& plan,
                                              const DeviceDecoderOptions& options,
                                              const std::string& who);

// The device model of `model` under `plan` (DeviceModelRefuses checked first) for `options.context`
// positions: every weight the plan puts on the device uploaded; where it keeps routed experts in
// host memory, `host` is made (options.host_threads threads) to compute them and must outlive
// the model. Throws CudaError for the device, std::invalid_argument for shapes the kernels cannot
// take. What DeviceDecoder and DeviceSequenceModel build on.
std::unique_ptr<DeviceModel> UploadPlannedModel(const forward::Model& model,
                                                const PlacementPlan& plan,
                                                const DeviceDecoderOptions& options,
                                                CudaStream& stream,
                                                std::unique_ptr<HostExpertCompute>& host);

class DeviceDecoder {
 public:
  // Error (never an exception): the plan (ExpertsOnDevicePerLayer), a context < 1 or beyond
  // max_position_embeddings, a CUDA error (no device, out of memory: the runtime's words and the
  // size), or weights whose shapes the kernels cannot take. The GPU computes the model's numerics
  // mode (exact: device_model_upload.h UseExactNumerics).
  static Expected<std::unique_ptr<DeviceDecoder>, std::string> Create(
      const forward::Model& model, const PlacementPlan& plan, const DeviceDecoderOptions& options);

  ~DeviceDecoder();
  DeviceDecoder(const DeviceDecoder&) = delete;
  DeviceDecoder& operator=(const DeviceDecoder&) = delete;

  int64_t pos() const { return pos_; }  // tokens decoded so far = the next token's position
  int64_t context() const { return context_; }
  int64_t vocab() const { return vocab_; }

  // Runs `token` at pos() and returns its logits [vocab] (fp32, host); pos() advances. Error, with
  // the state untouched: an id outside the vocabulary, or the context is full. A CUDA error
  // (reported in the runtime's words) leaves the decoder unusable: every later call fails.
  Expected<std::vector<float>, std::string> Decode(int32_t token);

 private:
  DeviceDecoder();

  ModelConfig config_;
  int device_ = 0;
  int64_t context_ = 0, vocab_ = 0, pos_ = 0;
  std::string broken_;  // the CUDA error that made the decoder unusable
  std::unique_ptr<CudaStream> stream_;
  std::unique_ptr<HostExpertCompute> host_;  // the offload's CPU side (before model_: outlives it)
  std::unique_ptr<DeviceModel> model_;
  std::unique_ptr<DeviceSequence> sequence_;
  std::unique_ptr<DeviceBuffer> token_, logits_;
};

}  // namespace dsagent::engine::kernels::cuda
