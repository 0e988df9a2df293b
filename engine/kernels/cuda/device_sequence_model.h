// DeviceSequenceModel: the generation seam (generate/sequence_model.h) on the GPU — one copy of
// the weights on the device (model_step.h DeviceModel) and one DeviceSequence per ModelSequence.
// Forward runs one token as a device decode step (ModelDecode) and several in chunks of up to
// kDeviceChunkRows rows (model_rows.h ModelRows: each weight read once per chunk); ForwardBatch
// runs the steps of all its sequences as one ModelRows call over their rows (up to
// kDeviceChunkRows per call: each weight read once per call for all sequences); HostState downloads a snapshot (device_sequence_copy.h) into a host copy
// the sequence keeps; SequenceFrom restores a host state (a prefix cache's hit, a --kv-dir
// record), so states move between the CPU and GPU engines.
//
// Not on the device yet, each a clear error: MTP (ForwardMtpLast, StepOptions::final_streams),
// taking a row back (StepOptions::undoable_last_row, TakeBackLastRow). A host state's MTP part is
// carried on the host as it came (the device runs no MTP block), so HostState gives it back.
// Not wired into `--device cuda` yet (that needs a GPU run of tests/engine/kernels/
// cuda_sequence_model_test.cc first).
//
// Thread-safety: calls may come from several threads; the device model's scratch is shared, so
// they run one at a time (a mutex). The forward::Model must outlive Create (the upload reads its
// mapped weights; nothing afterwards); the DeviceSequenceModel must outlive its sequences.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/model.h"
#include "engine/generate/sequence_model.h"
#include "engine/kernels/cuda/device_decoder.h"
#include "engine/kernels/cuda/rows_scratch.h"
#include "engine/model/placement_plan.h"

namespace dsagent::engine::kernels::cuda {

class DeviceSequenceModel;

// Rows per ModelRows call: a prompt's chunk, or a batch's rows. The scratch (model_rows.h
// DeviceRows, DeviceRowsBytes) is sized for it at Create, plus the logits [rows, vocab]: by its
// formula about 0.9 MB + 0.5 MB per row for V4-Flash's shapes, inside the planner's workspace
// allowance (placement_plan.h kDeviceWorkspaceBytes).
constexpr int64_t kDeviceChunkRows = 64;

class DeviceModelSequence final : public ModelSequence {
 public:
  ~DeviceModelSequence() override;
  int64_t pos() const override;
  int64_t mtp_pos() const override { return mtp_pos_; }
  // Downloads the device state into the host copy this sequence keeps (plus the carried MTP part).
  // Error: a CUDA error (the sequence is unchanged).
  Expected<const forward::SequenceState*, std::string> HostState() override;

 private:
  friend class DeviceSequenceModel;
  explicit DeviceModelSequence(DeviceSequenceModel& model);

  DeviceSequenceModel* owner_;
  std::unique_ptr<DeviceSequence> device_;
  int64_t mtp_pos_ = 0;  // the carried MTP part (restored, never advanced here)
  std::vector<forward::LayerState> mtp_;
  forward::SequenceState host_;  // HostState's copy
  std::string broken_;           // the CUDA error that made the sequence unusable
};

class DeviceSequenceModel final : public SequenceModel {
 public:
  // Error (never an exception): the plan (ExpertsOnDevicePerLayer), a context < 1 or beyond
  // max_position_embeddings, a CUDA error (no device, out of memory). Every sequence holds
  // `options.context` positions.
  static Expected<std::unique_ptr<DeviceSequenceModel>, std::string> Create(
      const forward::Model& model, const PlacementPlan& plan, const DeviceDecoderOptions& options);
  ~DeviceSequenceModel() override;

  // The checkpoint's config: its max_position_embeddings is not this model's room, context() is
  // (callers cap generation there: GenerateOptions::context_limit).
  const ModelConfig& config() const override { return config_; }
  int64_t context() const { return context_; }

  // An empty sequence. When the device cannot allocate its state (out of memory), the sequence
  // carries the CUDA error and every call on it returns that error.
  std::unique_ptr<ModelSequence> NewSequence() override;
  // Error: a state that does not fit (sequence_state_layout.h CheckStateFitsDevice), a CUDA error.
  Expected<std::unique_ptr<ModelSequence>, std::string> SequenceFrom(
      forward::SequenceState state) override;

  // One token: a decode step; more: chunks of kDeviceChunkRows rows (logits of the last row only
  // when options.last_row_only, else of each). Error, with the sequence untouched: no tokens, a bad id, more
  // tokens than the context has room for, another model's sequence, final_streams or
  // undoable_last_row asked for (not on the device yet). A CUDA error leaves the sequence
  // unusable (every later call on it fails).
  Expected<std::vector<float>, std::string> Forward(ModelSequence& sequence,
                                                    std::span<const int32_t> tokens,
                                                    const StepOptions& options) override;
  // The steps' rows together, kDeviceChunkRows at most per ModelRows call (a step longer than
  // that runs alone, as Forward); checked in full before any runs.
  Expected<std::vector<std::vector<float>>, std::string> ForwardBatch(
      std::span<const SequenceStep> steps) override;
  // Not on the device yet: always an error.
  Expected<Ok, std::string> TakeBackLastRow(ModelSequence& sequence) override;
  Expected<std::vector<float>, std::string> ForwardMtpLast(
      ModelSequence& sequence, std::span<const float> streams,
      std::span<const int32_t> next_tokens) override;

 private:
  DeviceSequenceModel();
  Expected<DeviceModelSequence*, std::string> Own(ModelSequence& sequence) const;
  // Checks `tokens` for `seq` (usable, ids, room).
  Expected<Ok, std::string> CheckStep(const DeviceModelSequence& seq,
                                      std::span<const int32_t> tokens) const;
  // Runs checked tokens; caller holds mutex_.
  Expected<std::vector<float>, std::string> Run(DeviceModelSequence& seq,
                                                std::span<const int32_t> tokens, bool last_only);
  // Runs checked steps (distinct sequences, at most kDeviceChunkRows rows in all) as one ModelRows
  // call; every row's logits. Caller holds mutex_.
  Expected<Ok, std::string> RunRows(std::span<DeviceModelSequence* const> seqs,
                                    std::span<const SequenceStep> steps,
                                    std::vector<std::vector<float>>& out);

  friend class DeviceModelSequence;
  ModelConfig config_;
  int device_ = 0;
  int64_t context_ = 0;
  std::mutex mutex_;
  std::unique_ptr<CudaStream> stream_;
  std::unique_ptr<HostExpertCompute> host_;  // the offload's CPU side (before model_: outlives it)
  std::unique_ptr<DeviceModel> model_;
  std::unique_ptr<DeviceBuffer> token_, logits_;  // logits_: [kDeviceChunkRows, vocab]
  std::unique_ptr<DeviceRows> rows_;
};

}  // namespace dsagent::engine::kernels::cuda
