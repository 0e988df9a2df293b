// MtpDrafter: drafts with the checkpoint's MTP block (speculative decoding, see generator.h) and
// keeps the MTP block's state in step with the main model's.
//
// The MTP block at position i reads the main model's final hc streams at i and the token at i+1,
// and predicts the token at i+2 (reference MTPBlock). Its attention has a KV state of its own
// (the sequence's MTP part, ModelSequence::mtp_pos), so every position must pass through it once,
// in order: a row is queued until the token after it is known and runs through the block with the
// rows queued before it — a prompt chunk in one call, a decode step's rows together with the next
// draft. Only tokens the generator keeps are told (Fed), so a rejected draft never needs undoing in
// the MTP state.
//
// Not thread-safe; one per Generate call, on the caller's sequence.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/generate/draft_source.h"
#include "engine/generate/sequence_model.h"

namespace dsagent::engine {

class MtpDrafter : public DraftSource {
 public:
  // Precondition: CanDraft(model, sequence). Both must outlive the drafter.
  MtpDrafter(SequenceModel& model, ModelSequence& sequence);

  // Ok when drafting can start on `sequence`; else why not: no MTP block in the checkpoint, or an
  // MTP state that is not at the main state's position (e.g. restored from a prefix cache that
  // was filled without speculative decoding: the positions it lacks cannot be recomputed).
  static Expected<Ok, std::string> CanDraft(const SequenceModel& model,
                                            const ModelSequence& sequence);

  // Queues the rows: a row waiting for its next token gets tokens[0], row i gets tokens[i + 1],
  // the last row waits. Runs the rows whose next token is known through the MTP block when there
  // are more than kMaxQueuedRows (a prompt chunk). Error: what SequenceModel::ForwardMtpLast
  // reports.
  Expected<Ok, std::string> Fed(std::span<const int32_t> tokens,
                                std::span<const float> streams) override;

  // Runs every queued row through the MTP block, the waiting one with `token`, and returns the
  // last row's logits and their argmax (the guess a match-verification accepts most often).
  // Error: no row waits for a token (nothing was fed), or what SequenceModel::ForwardMtpLast
  // reports.
  Expected<DraftGuess, std::string> Draft(int32_t token) override;

  // Runs every queued row through the MTP block (the waiting one with `next`): afterwards
  // sequence.mtp_pos() == sequence.pos(). Nothing waiting: nothing to do.
  Expected<Ok, std::string> CatchUp(int32_t next) override;

  static constexpr int64_t kMaxQueuedRows = 16;

 private:
  // Runs the first `rows` queued rows (those with a known next token) through the MTP block and
  // returns the last one's logits.
  Expected<std::vector<float>, std::string> Run(int64_t rows);

  SequenceModel& model_;
  ModelSequence& sequence_;
  int64_t row_width_ = 0;       // hc * dim
  std::vector<float> streams_;  // queued rows
  std::vector<int32_t> next_;   // their next tokens, in order (all rows but a waiting last one)
  bool waiting_ = false;        // the last queued row's next token is not known yet
};

}  // namespace dsagent::engine
