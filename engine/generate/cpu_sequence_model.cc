#include "engine/generate/cpu_sequence_model.h"

#include <utility>

namespace dsagent::engine {

std::unique_ptr<ModelSequence> CpuSequenceModel::NewSequence() {
  return std::unique_ptr<ModelSequence>(new CpuSequence(*this, model_.NewSequence()));
}

Expected<std::unique_ptr<ModelSequence>, std::string> CpuSequenceModel::SequenceFrom(
    forward::SequenceState state) {
  const ModelConfig& c = config();
  if (state.layers.size() != static_cast<size_t>(c.n_layers) ||
      state.mtp.size() != static_cast<size_t>(c.n_mtp_layers)) {
    return MakeUnexpected("the sequence state has " + std::to_string(state.layers.size()) +
                          " layers and " + std::to_string(state.mtp.size()) +
                          " MTP blocks; the model " + std::to_string(c.n_layers) + " and " +
                          std::to_string(c.n_mtp_layers));
  }
  return std::unique_ptr<ModelSequence>(new CpuSequence(*this, std::move(state)));
}

Expected<CpuSequence*, std::string> CpuSequenceModel::Own(ModelSequence& sequence) const {
  if (&sequence.model() != this) {
    return MakeUnexpected(std::string("the sequence was made by another model"));
  }
  return static_cast<CpuSequence*>(&sequence);
}

Expected<std::vector<float>, std::string> CpuSequenceModel::Forward(ModelSequence& sequence,
                                                                    std::span<const int32_t> tokens,
                                                                    const StepOptions& options) {
  auto own = Own(sequence);
  if (!own) return MakeUnexpected(own.error());
  CpuSequence& seq = **own;
  const bool traced = options.final_streams != nullptr || options.undoable_last_row;
  forward::ForwardTrace trace;
  trace.undoable_last_row = options.undoable_last_row;
  forward::ForwardTrace* t = traced ? &trace : nullptr;
  auto logits = options.last_row_only ? model_.ForwardLast(seq.state_, tokens, t)
                                      : model_.Forward(seq.state_, tokens, t);
  // Only the last call's row can be taken back.
  seq.undo_ = std::move(trace.undo);
  if (!logits || !options.undoable_last_row) seq.undo_.pos = -1;
  if (logits && options.final_streams != nullptr) {
    *options.final_streams = std::move(trace.final_streams);
  }
  return logits;
}

Expected<std::vector<std::vector<float>>, std::string> CpuSequenceModel::ForwardBatch(
    std::span<const SequenceStep> steps) {
  std::vector<forward::BatchEntry> entries;
  entries.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    auto own = Own(*steps[i].sequence);
    if (!own) return MakeUnexpected("sequence " + std::to_string(i) + ": " + own.error());
    (*own)->undo_.pos = -1;
    entries.push_back(
        {&(*own)->state_, steps[i].tokens, static_cast<int64_t>(steps[i].tokens.size())});
  }
  return model_.ForwardBatch(entries);
}

Expected<Ok, std::string> CpuSequenceModel::TakeBackLastRow(ModelSequence& sequence) {
  auto own = Own(sequence);
  if (!own) return MakeUnexpected(own.error());
  CpuSequence& seq = **own;
  auto taken = model_.TakeBackLastRow(seq.state_, seq.undo_);
  if (taken) seq.undo_.pos = -1;
  return taken;
}

Expected<std::vector<float>, std::string> CpuSequenceModel::ForwardMtpLast(
    ModelSequence& sequence, std::span<const float> streams, std::span<const int32_t> next_tokens) {
  auto own = Own(sequence);
  if (!own) return MakeUnexpected(own.error());
  return model_.ForwardMtpLast((*own)->state_, streams, next_tokens);
}

}  // namespace dsagent::engine
