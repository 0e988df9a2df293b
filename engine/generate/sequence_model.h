// SequenceModel: the model as generation sees it — something that makes sequences and advances
// them by tokens, returning logits. Generator, PrefillInChunks, ForwardBatcher, MtpDrafter and
// ChatCompleter use only this, so that where the forward pass runs (the CPU's forward::Model,
// cpu_sequence_model.h; a GPU later) is chosen in one place (EngineRuntime), not in each of them.
//
// A ModelSequence is one sequence's state in whatever layout its model keeps it (host buffers,
// device buffers). The prefix caches and the KV store keep the host layout, forward::
// SequenceState; a sequence converts to it (HostState) and is made from it (SequenceFrom), so a
// cache written by one implementation serves another. For the CPU both are the state itself.
//
// Every method is one virtual call per forward call (a prompt chunk, a decode step, a batch), never
// per token or per op. Thread-safety: a model's methods may run concurrently on different
// sequences; one sequence must not be used by two calls at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/sequence_state.h"
#include "engine/model/model_config.h"

namespace dsagent::engine {

class SequenceModel;

// One sequence's state, owned by the caller, made by a SequenceModel (NewSequence, SequenceFrom)
// and usable only with that model.
class ModelSequence {
 public:
  virtual ~ModelSequence() = default;
  ModelSequence(const ModelSequence&) = delete;
  ModelSequence& operator=(const ModelSequence&) = delete;

  virtual int64_t pos() const = 0;      // tokens the main layers hold (the next token's position)
  virtual int64_t mtp_pos() const = 0;  // tokens the MTP blocks hold (<= pos())

  // The state in the host layout, for a prefix cache to copy (PrefixCache::Store). For the CPU it
  // is the state itself (no copy); an implementation that keeps the state elsewhere downloads it.
  // Valid until the next call on this sequence. Error: the download failed (the sequence is
  // unchanged; a cache then just stores nothing).
  virtual Expected<const forward::SequenceState*, std::string> HostState() = 0;

  // The model that made this sequence.
  const SequenceModel& model() const { return *model_; }

 protected:
  explicit ModelSequence(const SequenceModel& model) : model_(&model) {}

 private:
  const SequenceModel* model_;
};

// What a forward call leaves besides its logits.
struct StepOptions {
  // Only the last token's logits [vocab] (a prefill chunk: the output head runs on one row),
  // bit-identical to the last row of the full result.
  bool last_row_only = false;
  // When set, receives the call's final hc streams [tokens, hc, dim] (fp32, host): the input of
  // the MTP block and of a DraftSource.
  std::vector<float>* final_streams = nullptr;
  // The call's last row can be taken back (TakeBackLastRow) until the next call on the sequence
  // (speculative decoding: the row of a draft that may be rejected).
  bool undoable_last_row = false;
};

// One sequence's part of a batched call (ForwardBatch).
struct SequenceStep {
  ModelSequence* sequence = nullptr;  // distinct per step
  std::span<const int32_t> tokens;    // >= 1, run at sequence->pos(), pos() + 1, ...
};

class SequenceModel {
 public:
  virtual ~SequenceModel() = default;

  virtual const ModelConfig& config() const = 0;

  // Why this model can run nothing more, or empty: a GPU lost to a device fault (a device
  // model's; CPU models never are). Every call then fails with this message, and a server says
  // so at its health check. Cheap, any thread.
  virtual std::string Lost() const { return {}; }

  // An empty sequence (position 0).
  virtual std::unique_ptr<ModelSequence> NewSequence() = 0;
  // A sequence holding `state` (a prefix cache's hit; taken, not copied, where the layout is the
  // host's). Error: a state whose shape is not this model's.
  virtual Expected<std::unique_ptr<ModelSequence>, std::string> SequenceFrom(
      forward::SequenceState state) = 0;

  // Runs `tokens` at positions sequence.pos(), pos() + 1, ... and returns their logits
  // [tokens.size(), vocab] (fp32), or the last row's only (StepOptions::last_row_only). Error,
  // with the sequence untouched: no tokens, an id outside the vocabulary, a sequence made by
  // another model.
  virtual Expected<std::vector<float>, std::string> Forward(ModelSequence& sequence,
                                                            std::span<const int32_t> tokens,
                                                            const StepOptions& options) = 0;

  // Several sequences in one call (batched decode): each step's tokens run on its sequence as
  // Forward would run them (the same bits, whatever the other steps are). Returns each step's
  // logits, every row, in step order. Error, with every sequence untouched: an empty batch, a
  // sequence given twice or made by another model, a bad token (naming the step).
  virtual Expected<std::vector<std::vector<float>>, std::string> ForwardBatch(
      std::span<const SequenceStep> steps) = 0;

  // Takes back the last row of the sequence's last Forward call, which asked for it
  // (StepOptions::undoable_last_row): the sequence is then, field for field, what that call
  // would have left without its last token. Error, with the sequence untouched: the last call
  // did not ask for it, or a row was taken back since.
  virtual Expected<Ok, std::string> TakeBackLastRow(ModelSequence& sequence) = 0;

  // The (first) MTP block on `streams` [rows, hc, dim] (final streams of Forward at positions
  // sequence.mtp_pos()...) with `next_tokens` [rows] (the token after each of those positions);
  // returns the last row's MTP logits [vocab]. Errors as Forward.
  virtual Expected<std::vector<float>, std::string> ForwardMtpLast(
      ModelSequence& sequence, std::span<const float> streams,
      std::span<const int32_t> next_tokens) = 0;
};

}  // namespace dsagent::engine
