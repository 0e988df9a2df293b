// CpuSequenceModel: the SequenceModel (sequence_model.h) over the CPU forward pass — a
// forward::Model and its host forward::SequenceState, adapted without a copy: a CpuSequence holds
// the SequenceState itself, HostState() is that state and SequenceFrom() moves a cached state in.
// Each call is one call of the Model (Forward, ForwardLast, ForwardBatch, ForwardMtpLast,
// TakeBackLastRow), so the bits are the Model's.
//
// Usage:
//   auto model = forward::Model::Load(dir);
//   CpuSequenceModel cpu(**model);            // a view: the Model must outlive it
//   auto seq = cpu.NewSequence();
//   Generator(cpu, &tokenizer).Generate(*seq, prompt, options);
//
// Thread-safety: as forward::Model (calls may run concurrently on different sequences).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/forward/last_row_undo.h"
#include "engine/forward/model.h"
#include "engine/generate/sequence_model.h"

namespace dsagent::engine {

class CpuSequence final : public ModelSequence {
 public:
  int64_t pos() const override { return state_.pos; }
  int64_t mtp_pos() const override { return state_.mtp_pos; }
  // The state itself; never an error.
  Expected<const forward::SequenceState*, std::string> HostState() override { return &state_; }

  // The state, for code that knows it runs on the CPU (tests comparing states field by field).
  const forward::SequenceState& state() const { return state_; }

 private:
  friend class CpuSequenceModel;
  CpuSequence(const SequenceModel& model, forward::SequenceState state)
      : ModelSequence(model), state_(std::move(state)) {}

  forward::SequenceState state_;
  // What TakeBackLastRow needs after an undoable call (pos -1: nothing to take back).
  forward::LastRowUndo undo_;
};

class CpuSequenceModel final : public SequenceModel {
 public:
  explicit CpuSequenceModel(forward::Model& model) : model_(model) {}

  const ModelConfig& config() const override { return model_.config(); }
  std::unique_ptr<ModelSequence> NewSequence() override;
  // Error: a state with another number of layers or MTP blocks than the model's.
  Expected<std::unique_ptr<ModelSequence>, std::string> SequenceFrom(
      forward::SequenceState state) override;

  Expected<std::vector<float>, std::string> Forward(ModelSequence& sequence,
                                                    std::span<const int32_t> tokens,
                                                    const StepOptions& options) override;
  Expected<std::vector<std::vector<float>>, std::string> ForwardBatch(
      std::span<const SequenceStep> steps) override;
  Expected<Ok, std::string> TakeBackLastRow(ModelSequence& sequence) override;
  Expected<std::vector<float>, std::string> ForwardMtpLast(
      ModelSequence& sequence, std::span<const float> streams,
      std::span<const int32_t> next_tokens) override;

  forward::Model& model() { return model_; }

 private:
  // `sequence` as this model's CpuSequence; error when another model made it.
  Expected<CpuSequence*, std::string> Own(ModelSequence& sequence) const;

  forward::Model& model_;
};

}  // namespace dsagent::engine
