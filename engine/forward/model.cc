#include "engine/forward/model.h"

#include <algorithm>

#include "engine/forward/block.h"
#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::forward {
namespace {

// The call's buffers (the residual streams, the batch's tokens and chunks, the head's rows, the
// MTP block's inputs), in a workspace of the calling thread kept between calls: a warm decode
// step allocates only the logits it returns; buffers over kernels::kWorkspaceKeepBytes (prefill)
// are freed at the end of the call.
enum Slot : int {
  kTokens,
  kStreams,
  kChunks,
  kHeadFirst,
  kGathered,
  kLogits,
  kMtpEmbed,
  kMtpEmbedProj,
  kMtpNormed
};
kernels::Workspace& ModelWorkspace() { return kernels::ThreadWorkspaceFor<Slot>(); }

}  // namespace

Expected<std::unique_ptr<Model>, std::string> Model::Load(const std::filesystem::path& dir,
                                                          const ModelOptions& options) {
  // The backend first: a backend this build cannot make is the caller's choice to correct, not a
  // reason to map the checkpoint.
  auto pool = std::make_unique<ThreadPool>(options.threads);
  auto ops = kernels::MakeOps(options.backend, *pool);
  if (!ops) return MakeUnexpected(ops.error());
  auto ck = Checkpoint::Open(dir, options.weights);
  if (!ck) return MakeUnexpected(ck.error());
  std::unique_ptr<Model> m(new Model());
  m->checkpoint_ = std::move(*ck);
  auto weights = LoadModelWeights(*m->checkpoint_, dir.string());
  if (!weights) return MakeUnexpected(weights.error());
  m->weights_ = std::move(*weights);
  m->window_rope_ = std::make_unique<Rope>(m->config(), false);
  m->compressed_rope_ = std::make_unique<Rope>(m->config(), true);
  m->pool_ = std::move(pool);
  m->ops_ = std::move(*ops);
  m->numerics_ = options.numerics;
  return m;
}

Expected<Ok, std::string> Model::CheckState(const SequenceState& state) const {
  const ModelConfig& c = config();
  if (state.layers.size() != static_cast<size_t>(c.n_layers) ||
      state.mtp.size() != static_cast<size_t>(c.n_mtp_layers) || state.pos < 0 ||
      state.mtp_pos < 0) {
    return MakeUnexpected(
        "the sequence state was not made for this model (use Model::NewSequence)");
  }
  return Ok{};
}

Expected<Ok, std::string> CheckTokenIds(const ModelConfig& config, std::span<const int32_t> tokens,
                                        int64_t start) {
  if (tokens.empty()) return MakeUnexpected("no tokens to run");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config.vocab_size) {
      return MakeUnexpected("token id " + std::to_string(tokens[i]) + " at position " +
                            std::to_string(start + static_cast<int64_t>(i)) +
                            " is outside the vocabulary [0, " + std::to_string(config.vocab_size) +
                            ")");
    }
  }
  return Ok{};
}

Expected<std::vector<float>, std::string> Model::Forward(SequenceState& state,
                                                         std::span<const int32_t> tokens,
                                                         ForwardTrace* trace) {
  return Run(state, tokens, static_cast<int64_t>(tokens.size()), trace);
}

Expected<std::vector<float>, std::string> Model::ForwardLast(SequenceState& state,
                                                             std::span<const int32_t> tokens,
                                                             ForwardTrace* trace) {
  return Run(state, tokens, 1, trace);
}

Expected<std::vector<float>, std::string> Model::Run(SequenceState& state,
                                                     std::span<const int32_t> tokens,
                                                     int64_t logits_rows, ForwardTrace* trace) {
  const BatchEntry entry{&state, tokens, logits_rows};
  std::vector<float> logits;
  auto ok =
      Run(std::span<const BatchEntry>(&entry, 1), trace, std::span<std::vector<float>>(&logits, 1));
  if (!ok) return MakeUnexpected(ok.error());
  return logits;
}

Expected<std::vector<std::vector<float>>, std::string> Model::ForwardBatch(
    std::span<const BatchEntry> batch) {
  std::vector<std::vector<float>> out(batch.size());
  auto ok = Run(batch, nullptr, out);
  if (!ok) return MakeUnexpected(ok.error());
  return out;
}

Expected<Ok, std::string> Model::Run(std::span<const BatchEntry> batch, ForwardTrace* trace,
                                     std::span<std::vector<float>> out) {
  const ModelConfig& c = config();
  if (batch.empty()) return MakeUnexpected("no sequences to run");
  if (trace && batch.size() != 1) return MakeUnexpected("a forward trace needs a single sequence");
  for (size_t k = 0; k < batch.size(); ++k) {
    const BatchEntry& e = batch[k];
    const auto which = [&] {
      return batch.size() > 1 ? "sequence " + std::to_string(k) + " of the batch: " : std::string();
    };
    if (e.state == nullptr) return MakeUnexpected(which() + "no sequence state");
    if (auto ok = CheckState(*e.state); !ok) return MakeUnexpected(which() + ok.error());
    if (auto ok = CheckTokenIds(c, e.tokens, e.state->pos); !ok) {
      return MakeUnexpected(which() + ok.error());
    }
    for (size_t j = 0; j < k; ++j) {
      if (batch[j].state == e.state) {
        return MakeUnexpected(which() + "the same sequence state as sequence " + std::to_string(j));
      }
    }
  }
  int64_t rows = 0;
  for (const BatchEntry& e : batch) rows += static_cast<int64_t>(e.tokens.size());
  const int64_t n_entries = static_cast<int64_t>(batch.size());
  const int64_t hc = c.hc_mult, dim = c.dim, stream = hc * dim;
  const Compute cx = compute();
  kernels::Workspace& ws = ModelWorkspace();

  // The entries' tokens one after another (one entry's are used in place).
  const int32_t* tokens = batch.front().tokens.data();
  if (batch.size() > 1) {
    int32_t* all = ws.Get<int32_t>(kTokens, rows);
    for (const BatchEntry& e : batch) all = std::copy(e.tokens.begin(), e.tokens.end(), all);
    tokens = all - rows;
  }
  // Embedding, copied to every stream.
  float* h = ws.Get<float>(kStreams, rows * stream);
  cx.ops.EmbedRows(weights_.embed.view(), tokens, kernels::F32Rows(h, rows, stream));
  if (trace && trace->keep_layer_streams) {
    trace->layer_streams.assign(static_cast<size_t>(c.n_layers * rows * stream), 0.0f);
  }
  SequenceState& first_state = *batch.front().state;
  const bool undoable = trace && trace->undoable_last_row;
  // Two rows in one window slot would leave nothing to restore the first one from.
  if (undoable && rows > 1 && c.window_size < 2) {
    return MakeUnexpected("an undoable last row needs sliding_window >= 2");
  }
  if (undoable) BeginUndoableRow(first_state, first_state.pos + rows - 1, trace->undo);
  LayerChunk* chunks = ws.Get<LayerChunk>(kChunks, n_entries);
  for (int i = 0; i < c.n_layers; ++i) {
    const BlockWeights& b = weights_.layers[static_cast<size_t>(i)];
    for (size_t k = 0; k < batch.size(); ++k) {
      chunks[k] = LayerChunk{&batch[k].state->layers[static_cast<size_t>(i)], batch[k].state->pos,
                             static_cast<int64_t>(batch[k].tokens.size())};
    }
    BlockForward(b, c, RopeFor(b.attn.ratio),
                 std::span<const LayerChunk>(chunks, static_cast<size_t>(n_entries)), tokens, h,
                 cx);
    if (trace && trace->keep_layer_streams) {
      std::copy(h, h + rows * stream, trace->layer_streams.begin() + i * rows * stream);
    }
  }
  // Rows are independent in the head, so each entry's last rows alone give the same bits: they
  // are gathered (when there are several entries) and run through the head together.
  int64_t* first = ws.Get<int64_t>(kHeadFirst, n_entries + 1);  // entry k's rows in the head
  first[0] = 0;
  for (int64_t k = 0; k < n_entries; ++k) {
    const BatchEntry& e = batch[static_cast<size_t>(k)];
    const int64_t n = static_cast<int64_t>(e.tokens.size());
    first[k + 1] = first[k] + std::min(n, std::max<int64_t>(e.logits_rows, 1));
  }
  const int64_t n_head = first[n_entries];
  const float* head_in = h + (rows - n_head) * stream;
  if (batch.size() > 1) {
    float* gathered = ws.Get<float>(kGathered, n_head * stream);
    int64_t row0 = 0;
    for (int64_t k = 0; k < n_entries; ++k) {
      const int64_t n = static_cast<int64_t>(batch[static_cast<size_t>(k)].tokens.size());
      const int64_t keep = first[k + 1] - first[k];
      std::copy(h + (row0 + n - keep) * stream, h + (row0 + n) * stream,
                gathered + first[k] * stream);
      row0 += n;
    }
    head_in = gathered;
  }
  if (batch.size() == 1) {
    out.front().resize(static_cast<size_t>(n_head * c.vocab_size));
    HeadForward(weights_.hc_head, weights_.norm, weights_.head, c, head_in, n_head,
                out.front().data(), cx);
  } else {
    float* logits = ws.Get<float>(kLogits, n_head * c.vocab_size);
    HeadForward(weights_.hc_head, weights_.norm, weights_.head, c, head_in, n_head, logits, cx);
    // Each entry's rows into its own vector: half a megabyte a row at V4's vocabulary, so the
    // copies go side by side on the pool rather than one after another on the caller.
    cx.pool.ParallelFor(n_entries, 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        out[static_cast<size_t>(k)].assign(logits + first[k] * c.vocab_size,
                                           logits + first[k + 1] * c.vocab_size);
      }
    });
  }
  for (const BatchEntry& e : batch) e.state->pos += static_cast<int64_t>(e.tokens.size());
  if (undoable) EndUndoableRow(first_state, trace->undo);
  if (trace) trace->final_streams.assign(h, h + rows * stream);
  ws.Trim(kernels::kWorkspaceKeepBytes);
  return Ok{};
}

Expected<std::vector<float>, std::string> Model::ForwardMtp(SequenceState& state,
                                                            std::span<const float> streams,
                                                            std::span<const int32_t> next_tokens,
                                                            int index) {
  return RunMtp(state, streams, next_tokens, index, static_cast<int64_t>(next_tokens.size()));
}

Expected<std::vector<float>, std::string> Model::ForwardMtpLast(
    SequenceState& state, std::span<const float> streams, std::span<const int32_t> next_tokens,
    int index) {
  return RunMtp(state, streams, next_tokens, index, 1);
}

Expected<std::vector<float>, std::string> Model::RunMtp(SequenceState& state,
                                                        std::span<const float> streams,
                                                        std::span<const int32_t> next_tokens,
                                                        int index, int64_t logits_rows) {
  const ModelConfig& c = config();
  if (index < 0 || index >= c.n_mtp_layers) {
    return MakeUnexpected("MTP block " + std::to_string(index) + " does not exist (the model has " +
                          std::to_string(c.n_mtp_layers) + ")");
  }
  if (auto ok = CheckState(state); !ok) return MakeUnexpected(ok.error());
  if (auto ok = CheckTokenIds(c, next_tokens, state.mtp_pos); !ok) {
    return MakeUnexpected(ok.error());
  }
  const int64_t rows = static_cast<int64_t>(next_tokens.size());
  const int64_t hc = c.hc_mult, dim = c.dim, stream = hc * dim;
  if (static_cast<int64_t>(streams.size()) != rows * stream) {
    return MakeUnexpected("MTP: " + std::to_string(streams.size()) + " stream values for " +
                          std::to_string(rows) + " tokens (want rows*hc*dim)");
  }
  const MtpWeights& w = weights_.mtp[static_cast<size_t>(index)];
  const Compute cx = compute();
  const float eps = static_cast<float>(c.norm_eps);
  // x = e_proj(enorm(embed(next))) broadcast over streams + h_proj(hnorm(h)) per stream.
  kernels::Workspace& ws = ModelWorkspace();
  float* e = ws.Get<float>(kMtpEmbed, rows * dim);
  float* pe = ws.Get<float>(kMtpEmbedProj, rows * dim);
  float* hn = ws.Get<float>(kMtpNormed, rows * stream);
  float* h = ws.Get<float>(kStreams, rows * stream);
  cx.ops.EmbedRows(weights_.embed.view(), next_tokens.data(), kernels::F32Rows(e, rows, dim));
  cx.ops.RmsNormBf16(kernels::F32Rows(e, rows, dim), w.enorm.data(), eps,
                     kernels::F32Rows(e, rows, dim));
  Linear(w.e_proj, e, rows, pe, InputQuant::kFp8Per128, Round::kBF16, cx);
  cx.ops.RmsNormBf16(kernels::F32Rows(streams.data(), rows * hc, dim), w.hnorm.data(), eps,
                     kernels::F32Rows(hn, rows * hc, dim));
  Linear(w.h_proj, hn, rows * hc, h, InputQuant::kFp8Per128, Round::kBF16, cx);
  cx.ops.AddBroadcastBf16(kernels::F32Rows(pe, rows, dim), kernels::F32Rows(h, rows, stream));
  BlockForward(w.block, c, RopeFor(w.block.attn.ratio), state.mtp_pos, next_tokens.data(), rows, h,
               state.mtp[static_cast<size_t>(index)], cx);
  // Rows are independent in the head, so the last rows alone give the same bits.
  const int64_t first = rows - std::min(rows, logits_rows);
  std::vector<float> logits(static_cast<size_t>((rows - first) * c.vocab_size));
  HeadForward(w.hc_head, w.norm, weights_.head, c, h + first * stream, rows - first, logits.data(),
              cx);
  state.mtp_pos += rows;
  ws.Trim(kernels::kWorkspaceKeepBytes);
  return logits;
}

}  // namespace dsagent::engine::forward
