// Model: a loaded DeepSeek-V4 checkpoint and its CPU forward pass, reproducing the official
// reference (inference/model.py + kernel.py, see ../shared/reference/v4-architecture.md) including
// its quantisation simulations and bf16 rounding points.
//
// Usage:
//   auto model = Model::Load(dir);               // maps the checkpoint, checks every tensor
//   SequenceState seq = (*model)->NewSequence();
//   auto logits = (*model)->Forward(seq, prompt);  // prefill: [prompt.size(), vocab]
//   auto next = (*model)->Forward(seq, {token});   // one decode step: [1, vocab]
//
// Weights stay in the mapped checkpoint in their stored formats. Thread-safety: the Model is
// read-only after Load(); Forward() may run concurrently on different SequenceStates (the thread
// pool serves one call at a time, a concurrent call computes on its caller's thread). One state
// must not be used by two calls at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/compute.h"
#include "engine/forward/last_row_undo.h"
#include "engine/forward/model_weights.h"
#include "engine/forward/rope.h"
#include "engine/forward/sequence_state.h"
#include "engine/forward/thread_pool.h"
#include "engine/kernels/numerics_mode.h"
#include "engine/kernels/ops_backend.h"
#include "engine/model/checkpoint.h"

namespace dsagent::engine::forward {

struct ModelOptions {
  int threads = 0;  // worker threads incl. the caller; <= 0: hardware concurrency
  // exact: the golden data's convention bit for bit (engine logits, the golden tests); fast: fp32
  // accumulation per 128-block (serve, run --provider local, engine generate choose it by
  // default). kernels/numerics_mode.h states the contract between the two.
  kernels::Numerics numerics = kernels::Numerics::kExact;
  // How the weight files are held in memory (engine/model/weight_residency.h): mapped, loaded
  // into huge pages (faster decode), or auto (loaded when they fit in half the free memory).
  WeightResidency weights = WeightResidency::kAuto;
  // The backend every op computes with (kernels/ops_backend.h). cpu is the only one this build
  // has; cuda makes Load fail, saying to pass cpu.
  kernels::OpsBackend backend = kernels::OpsBackend::kCpu;
};

// Ok when there are tokens and every id is in [0, vocab_size); else a message naming the first
// bad one and its position (positions counted from `start`).
Expected<Ok, std::string> CheckTokenIds(const ModelConfig& config, std::span<const int32_t> tokens,
                                        int64_t start = 0);

// Optional outputs of Forward() for checks, for the MTP block and for speculative decoding.
struct ForwardTrace {
  bool keep_layer_streams = false;
  std::vector<float> layer_streams;  // [n_layers, rows, hc, dim] after each block (if kept)
  std::vector<float> final_streams;  // [rows, hc, dim] after the last block (head / MTP input)
  // Speculative decoding: set to be able to take the call's last row back (TakeBackLastRow);
  // `undo` then holds what that needs (a few rows per layer, not the state's size).
  bool undoable_last_row = false;
  LastRowUndo undo;
};

// One sequence's part of a batched forward call (Model::ForwardBatch).
struct BatchEntry {
  SequenceState* state = nullptr;   // distinct per entry
  std::span<const int32_t> tokens;  // >= 1, run at positions state->pos, state->pos + 1, ...
  int64_t logits_rows = 1;          // the logits of the last min(logits_rows, tokens) rows
};

class Model {
 public:
  // Opens the checkpoint directory (config.json + safetensors) and makes the ops backend. Error:
  // a backend this build cannot make (before the checkpoint is opened), anything Checkpoint::Open
  // reports, or the first missing / mistyped / misshapen tensor, naming it and its file.
  static Expected<std::unique_ptr<Model>, std::string> Load(const std::filesystem::path& dir,
                                                            const ModelOptions& options = {});

  const ModelConfig& config() const { return checkpoint_->config(); }
  // How the weights ended up held: kMapped or kLoaded (ModelOptions::weights resolved).
  WeightResidency weight_residency() const { return checkpoint_->residency(); }
  kernels::Numerics numerics() const { return numerics_; }
  // The resolved weights (views into the mapped checkpoint), e.g. to upload them to a GPU
  // (kernels/cuda/device_decoder.h). Valid while the Model lives.
  const ModelWeights& weights() const { return weights_; }
  // Loaded weights (weight_residency.h) only: the pages outside `keep` go back to being the
  // checkpoint files' (Checkpoint::ReturnLoadedPages), e.g. once a GPU holds those weights and
  // the CPU computes only the host experts in `keep`. weights() stays valid and reads the same
  // bytes. The bytes given back; 0 when mapped. Not to be called while a forward pass runs.
  Expected<int64_t, std::string> ReturnLoadedWeightPages(const std::vector<AddressRange>& keep) {
    return checkpoint_->ReturnLoadedPages(keep);
  }
  SequenceState NewSequence() const { return NewSequenceState(config()); }

  // Runs `tokens` at positions state.pos, state.pos+1, ... and returns their logits
  // [tokens.size(), vocab_size] (fp32). With state.pos == 0 this is the reference's prefill;
  // a single token on a non-empty state is its decode step. Error, with `state` untouched: no
  // tokens, or an id outside [0, vocab_size) (naming the position and id).
  Expected<std::vector<float>, std::string> Forward(SequenceState& state,
                                                    std::span<const int32_t> tokens,
                                                    ForwardTrace* trace = nullptr);

  // Forward, but only the last token's logits [vocab_size] are computed (the output head runs on
  // one row): what a prefill needs, bit-identical to the last row of Forward's result. For Flash
  // the head is 0.5 GFLOP per row, so skipping it on the other rows matters for time to first
  // token.
  Expected<std::vector<float>, std::string> ForwardLast(SequenceState& state,
                                                        std::span<const int32_t> tokens,
                                                        ForwardTrace* trace = nullptr);

  // Several sequences in one call (batched decode, continuous batching): each entry's tokens run
  // on its state as Forward would run them — the same bits, whatever the other entries are — but
  // the weights are read once for all their rows. Returns each entry's logits in entry order,
  // [min(logits_rows, tokens.size()), vocab_size]. Error, with every state untouched: an empty
  // batch, a state given twice or not made for this model, no tokens, an id outside the
  // vocabulary (naming the entry, the position and the id).
  Expected<std::vector<std::vector<float>>, std::string> ForwardBatch(
      std::span<const BatchEntry> batch);

  // The MTP block `index` (reference MTPBlock): streams [rows, hc, dim] from Forward's
  // final_streams at positions state.mtp_pos..., next_tokens [rows] the token after each of
  // those positions. Returns the MTP logits [rows, vocab]. Errors as Forward.
  Expected<std::vector<float>, std::string> ForwardMtp(SequenceState& state,
                                                       std::span<const float> streams,
                                                       std::span<const int32_t> next_tokens,
                                                       int index = 0);

  // ForwardMtp, but only the last row's logits [vocab_size] (bit-identical to ForwardMtp's last
  // row): drafting needs one row, and feeding prompt positions to the MTP block none.
  Expected<std::vector<float>, std::string> ForwardMtpLast(SequenceState& state,
                                                           std::span<const float> streams,
                                                           std::span<const int32_t> next_tokens,
                                                           int index = 0);

  // Takes back the last row of the Forward call that filled `undo` (ForwardTrace::
  // undoable_last_row): afterwards `state` equals, field for field, the state that call would
  // have left without its last token — what speculative decoding needs after a rejected draft.
  // Error, with `state` untouched: `undo` is not for the state's last row (another call ran
  // since, or it is empty). See last_row_undo.h.
  Expected<Ok, std::string> TakeBackLastRow(SequenceState& state, const LastRowUndo& undo) const {
    return forward::TakeBackLastRow(state, undo);
  }

 private:
  Model() = default;
  const Rope& RopeFor(int ratio) const { return ratio > 0 ? *compressed_rope_ : *window_rope_; }
  // Ok when `state` was made for this model (NewSequence).
  Expected<Ok, std::string> CheckState(const SequenceState& state) const;
  // Forward's and ForwardBatch's body; `trace` only with one entry. out [batch.size()] gets each
  // entry's logits (the only allocation of a warm decode step's call, besides the state's growth).
  Expected<Ok, std::string> Run(std::span<const BatchEntry> batch, ForwardTrace* trace,
                                std::span<std::vector<float>> out);
  // Forward's body: the logits of the last `logits_rows` tokens.
  Expected<std::vector<float>, std::string> Run(SequenceState& state,
                                                std::span<const int32_t> tokens,
                                                int64_t logits_rows, ForwardTrace* trace);
  // ForwardMtp's body: the logits of the last `logits_rows` rows.
  Expected<std::vector<float>, std::string> RunMtp(SequenceState& state,
                                                   std::span<const float> streams,
                                                   std::span<const int32_t> next_tokens, int index,
                                                   int64_t logits_rows);

  std::unique_ptr<Checkpoint> checkpoint_;
  ModelWeights weights_;
  std::unique_ptr<Rope> window_rope_, compressed_rope_;  // rope_theta / compress_rope_theta+YaRN
  std::unique_ptr<ThreadPool> pool_;
  // The backend the forward pass computes with, over pool_ (declared after it: destroyed first).
  std::unique_ptr<kernels::Ops> ops_;
  kernels::Numerics numerics_ = kernels::Numerics::kExact;
  Compute compute() const { return Compute{*pool_, numerics_, *ops_}; }
};

}  // namespace dsagent::engine::forward
