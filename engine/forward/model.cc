#include "engine/forward/model.h"

#include <algorithm>

#include "engine/forward/block.h"
#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"

namespace dsagent::engine::forward {

Expected<std::unique_ptr<Model>, std::string> Model::Load(const std::filesystem::path& dir,
                                                          const ModelOptions& options) {
  auto ck = Checkpoint::Open(dir);
  if (!ck) return MakeUnexpected(ck.error());
  std::unique_ptr<Model> m(new Model());
  m->checkpoint_ = std::move(*ck);
  auto weights = LoadModelWeights(*m->checkpoint_, dir.string());
  if (!weights) return MakeUnexpected(weights.error());
  m->weights_ = std::move(*weights);
  m->window_rope_ = std::make_unique<Rope>(m->config(), false);
  m->compressed_rope_ = std::make_unique<Rope>(m->config(), true);
  m->pool_ = std::make_unique<ThreadPool>(options.threads);
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
  const ModelConfig& c = config();
  if (auto ok = CheckState(state); !ok) return MakeUnexpected(ok.error());
  if (auto ok = CheckTokenIds(c, tokens, state.pos); !ok) return MakeUnexpected(ok.error());
  const int64_t rows = static_cast<int64_t>(tokens.size());
  const int64_t hc = c.hc_mult, dim = c.dim, stream = hc * dim;
  const Compute cx = compute();

  // Embedding, copied to every stream.
  std::vector<float> h(static_cast<size_t>(rows * stream));
  for (int64_t t = 0; t < rows; ++t) {
    float* ht = h.data() + t * stream;
    weights_.embed.DequantRow(tokens[static_cast<size_t>(t)], ht);
    for (int64_t j = 1; j < hc; ++j) std::copy(ht, ht + dim, ht + j * dim);
  }
  if (trace && trace->keep_layer_streams) {
    trace->layer_streams.assign(static_cast<size_t>(c.n_layers * rows * stream), 0.0f);
  }
  const bool undoable = trace && trace->undoable_last_row;
  // Two rows in one window slot would leave nothing to restore the first one from.
  if (undoable && rows > 1 && c.window_size < 2) {
    return MakeUnexpected("an undoable last row needs sliding_window >= 2");
  }
  if (undoable) BeginUndoableRow(state, state.pos + rows - 1, trace->undo);
  for (int i = 0; i < c.n_layers; ++i) {
    const BlockWeights& b = weights_.layers[static_cast<size_t>(i)];
    BlockForward(b, c, RopeFor(b.attn.ratio), state.pos, tokens.data(), rows, h.data(),
                 state.layers[static_cast<size_t>(i)], cx);
    if (trace && trace->keep_layer_streams) {
      std::copy(h.begin(), h.end(), trace->layer_streams.begin() + i * rows * stream);
    }
  }
  // Rows are independent in the head, so the last rows alone give the same bits.
  const int64_t first = rows - std::min(rows, logits_rows);
  std::vector<float> logits(static_cast<size_t>((rows - first) * c.vocab_size));
  HeadForward(weights_.hc_head, weights_.norm, weights_.head, c, h.data() + first * stream,
              rows - first, logits.data(), cx);
  state.pos += rows;
  if (undoable) EndUndoableRow(state, trace->undo);
  if (trace) trace->final_streams = std::move(h);
  return logits;
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
  std::vector<float> e(static_cast<size_t>(rows * dim)), pe(e.size());
  for (int64_t t = 0; t < rows; ++t) {
    weights_.embed.DequantRow(next_tokens[static_cast<size_t>(t)], e.data() + t * dim);
  }
  RmsNorm(e.data(), rows, dim, w.enorm.data(), eps, e.data());
  Linear(w.e_proj, e.data(), rows, pe.data(), InputQuant::kFp8Per128, Round::kBF16, cx);
  std::vector<float> hn(streams.begin(), streams.end()), h(hn.size());
  RmsNorm(hn.data(), rows * hc, dim, w.hnorm.data(), eps, hn.data());
  Linear(w.h_proj, hn.data(), rows * hc, h.data(), InputQuant::kFp8Per128, Round::kBF16, cx);
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t j = 0; j < hc; ++j) {
      for (int64_t d = 0; d < dim; ++d) {
        float& v = h[static_cast<size_t>((t * hc + j) * dim + d)];
        v = RoundBf16(pe[static_cast<size_t>(t * dim + d)] + v);
      }
    }
  }
  BlockForward(w.block, c, RopeFor(w.block.attn.ratio), state.mtp_pos, next_tokens.data(), rows,
               h.data(), state.mtp[static_cast<size_t>(index)], cx);
  // Rows are independent in the head, so the last rows alone give the same bits.
  const int64_t first = rows - std::min(rows, logits_rows);
  std::vector<float> logits(static_cast<size_t>((rows - first) * c.vocab_size));
  HeadForward(w.hc_head, w.norm, weights_.head, c, h.data() + first * stream, rows - first,
              logits.data(), cx);
  state.mtp_pos += rows;
  return logits;
}

}  // namespace dsagent::engine::forward
