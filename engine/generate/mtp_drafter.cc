#include "engine/generate/mtp_drafter.h"

#include "engine/generate/sampler.h"

namespace dsagent::engine {

MtpDrafter::MtpDrafter(SequenceModel& model, ModelSequence& sequence)
    : model_(model), sequence_(sequence), row_width_(model.config().hc_mult * model.config().dim) {}

Expected<Ok, std::string> MtpDrafter::CanDraft(const SequenceModel& model,
                                               const ModelSequence& sequence) {
  if (model.config().n_mtp_layers < 1) {
    return MakeUnexpected("speculative decoding needs an MTP block; the checkpoint has none");
  }
  if (sequence.mtp_pos() != sequence.pos()) {
    return MakeUnexpected("the MTP state is at position " + std::to_string(sequence.mtp_pos()) +
                          ", the main state at " + std::to_string(sequence.pos()) +
                          " (filled without speculative decoding)");
  }
  return Ok{};
}

Expected<Ok, std::string> MtpDrafter::Fed(std::span<const int32_t> tokens,
                                          std::span<const float> streams) {
  if (tokens.empty()) return Ok{};
  if (waiting_) next_.push_back(tokens[0]);
  streams_.insert(streams_.end(), streams.begin(), streams.end());
  next_.insert(next_.end(), tokens.begin() + 1, tokens.end());
  waiting_ = true;
  const auto known = static_cast<int64_t>(next_.size());
  if (known <= kMaxQueuedRows) return Ok{};
  auto out = Run(known);
  if (!out) return MakeUnexpected(out.error());
  return Ok{};
}

Expected<DraftGuess, std::string> MtpDrafter::Draft(int32_t token) {
  if (!waiting_) return MakeUnexpected("MTP draft: no position waits for a next token");
  next_.push_back(token);
  waiting_ = false;
  auto logits = Run(static_cast<int64_t>(next_.size()));
  if (!logits) return MakeUnexpected(logits.error());
  const int32_t guess = Argmax(*logits);
  return DraftGuess{guess, std::move(*logits)};
}

Expected<Ok, std::string> MtpDrafter::CatchUp(int32_t next) {
  if (!waiting_) return Ok{};
  next_.push_back(next);
  waiting_ = false;
  auto out = Run(static_cast<int64_t>(next_.size()));
  if (!out) return MakeUnexpected(out.error());
  return Ok{};
}

Expected<std::vector<float>, std::string> MtpDrafter::Run(int64_t rows) {
  const auto end = streams_.begin() + rows * row_width_;
  const std::span<const float> streams(streams_.begin(), end);
  const std::span<const int32_t> next(next_.data(), rows);
  auto out = model_.ForwardMtpLast(sequence_, streams, next);
  streams_.erase(streams_.begin(), end);
  next_.erase(next_.begin(), next_.begin() + rows);
  return out;
}

}  // namespace dsagent::engine
