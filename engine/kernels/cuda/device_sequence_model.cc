#include "engine/kernels/cuda/device_sequence_model.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "engine/kernels/cuda/device_model_upload.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/device_sequence_copy.h"
#include "engine/kernels/cuda/model_rows.h"
#include "engine/kernels/cuda/model_step.h"

namespace dsagent::engine::kernels::cuda {
namespace {

// `buffer` with room for `bytes` (grown, never shrunk; the old contents are not kept).
void Reserve(DeviceBuffer& buffer, size_t bytes) {
  if (buffer.bytes() < bytes) buffer = DeviceBuffer(bytes);
}

}  // namespace

DeviceModelSequence::DeviceModelSequence(DeviceSequenceModel& model)
    : ModelSequence(model), owner_(&model) {}

DeviceModelSequence::~DeviceModelSequence() {
  if (device_ == nullptr) return;
  // The state's buffers are freed on the model's device.
  std::lock_guard<std::mutex> lock(owner_->mutex_);
  try {
    UseDevice(owner_->device_);
  } catch (const std::exception&) {
  }
  device_.reset();
}

int64_t DeviceModelSequence::pos() const { return device_ ? device_->pos : 0; }

int64_t DeviceModelSequence::mtp_pos() const { return device_ ? device_->mtp_pos : 0; }

Expected<const forward::SequenceState*, std::string> DeviceModelSequence::HostState() {
  if (auto ok = owner_->CheckUsable(*this); !ok) return MakeUnexpected(ok.error());
  std::lock_guard<std::mutex> lock(owner_->mutex_);
  try {
    UseDevice(owner_->device_);
    host_ = SnapshotSequence(*owner_->model_, owner_->config_, *device_, *owner_->stream_);
  } catch (const std::exception& e) {
    owner_->NoteLost(e);
    return MakeUnexpected("device sequence snapshot on cuda:" + std::to_string(owner_->device_) +
                          ": " + e.what());
  }
  return &host_;
}

DeviceSequenceModel::DeviceSequenceModel() = default;

DeviceSequenceModel::~DeviceSequenceModel() {
  try {
    UseDevice(device_);
  } catch (const std::exception&) {
  }
}

Expected<std::unique_ptr<DeviceSequenceModel>, std::string> DeviceSequenceModel::Create(
    const forward::Model& model, const PlacementPlan& plan, const DeviceDecoderOptions& options) {
  const ModelConfig& c = model.config();
  if (auto why = DeviceModelRefuses(c, plan, options, "device model")) return MakeUnexpected(*why);
  std::unique_ptr<DeviceSequenceModel> m(new DeviceSequenceModel());
  m->config_ = c;
  m->device_ = options.device;
  m->context_ = options.context;
  try {
    UseDevice(options.device);
    m->stream_ = std::make_unique<CudaStream>();
    m->model_ = UploadPlannedModel(model, plan, options, *m->stream_, m->host_);
    m->token_ = std::make_unique<DeviceBuffer>(sizeof(int32_t));
    m->chunk_rows_ = options.chunk_rows;
    m->logits_ = std::make_unique<DeviceBuffer>(static_cast<size_t>(m->chunk_rows_) *
                                                static_cast<size_t>(c.vocab_size) * sizeof(float));
    m->rows_ = std::make_unique<DeviceRows>(CreateDeviceRows(*m->model_, m->chunk_rows_));
    if (!options.graphs) {
      m->graphs_off_ = "turned off by the caller";
    } else if (GraphsDisabledByEnvironment()) {
      m->graphs_off_ = "turned off by DSAGENT_CUDA_GRAPHS";
    } else if (m->host_ != nullptr) {
      m->graphs_off_ = "routed experts in host memory (a step waits on the host for its routing)";
    } else {
      m->graphs_ = std::make_unique<DecodeGraphs>();
      m->graphs_on_ = true;
    }
  } catch (const std::exception& e) {
    return MakeUnexpected("device model on cuda:" + std::to_string(options.device) + ": " +
                          e.what());
  }
  return m;
}

std::string DeviceSequenceModel::Lost() const {
  std::lock_guard<std::mutex> lock(lost_mu_);
  return lost_;
}

void DeviceSequenceModel::NoteLost(const std::exception& e) const {
  const auto* cuda = dynamic_cast<const CudaError*>(&e);
  if (cuda == nullptr || !cuda->device_lost()) return;
  std::lock_guard<std::mutex> lock(lost_mu_);
  if (!lost_.empty()) return;  // the first fault says why
  lost_ = "cuda:" + std::to_string(device_) + " is lost to a device fault (" + e.what() +
          "): its memory and queued work are gone and nothing more can run on it in this " +
          "process; restart it (sessions and the KV prefix store on disk keep their work; " +
          "--device cpu runs without the GPU)";
}

DeviceSequenceModel::OffloadStats DeviceSequenceModel::Offload() {
  std::lock_guard<std::mutex> lock(mutex_);
  OffloadStats o;
  const auto add = [&o](const DeviceMoe& m) {
    o.wait_seconds += m.offload_wait_seconds;
    o.host_seconds += m.offload_host_seconds;
    o.stream_queue_seconds += m.stream_queue_seconds;
    o.streamed_experts += m.streamed_experts;
    o.host_slots += m.offload_host_slots;
  };
  for (const DeviceBlock& b : model_->layers) add(b.ffn);
  for (const DeviceMtp& m : model_->mtp) add(m.block.ffn);
  return o;
}

std::vector<AddressRange> DeviceSequenceModel::HostWeightRanges() const {
  std::vector<AddressRange> r;
  if (host_ == nullptr) return r;
  const std::vector<HostByteRange>* lists[] = {&host_->ranges, &host_->pinned.registered()};
  for (const auto* list : lists) {
    for (const HostByteRange& b : *list) r.push_back({b.begin, b.end});
  }
  return r;
}

std::string DeviceSequenceModel::HostExpertMemory() const {
  return host_ != nullptr ? host_->pinned.Describe() : std::string();
}

ExpertStreamCosts DeviceSequenceModel::StreamCosts() {
  std::lock_guard<std::mutex> lock(mutex_);
  const DeviceMoe* moe = FirstStreamingMoe(*model_);
  return moe != nullptr ? moe->stream_pools->costs : ExpertStreamCosts{};
}

void DeviceSequenceModel::SetStreamCosts(const ExpertStreamCosts& costs) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (DeviceMoe* moe = FirstStreamingMoe(*model_)) moe->stream_pools->costs = costs;
}

DeviceSequenceModel::GraphReport DeviceSequenceModel::Graphs() {
  std::lock_guard<std::mutex> lock(mutex_);
  GraphReport r;
  r.on = graphs_on_;
  r.off_reason = graphs_off_;
  if (graphs_) r.stats = graphs_->stats();
  return r;
}

DecodePieces DeviceSequenceModel::StepPieces() {
  return {kLayersPerGraph, [this](int64_t piece, const std::function<void()>& launches) {
            QueuePiece(piece, launches);
          }};
}

void DeviceSequenceModel::QueuePiece(int64_t piece, const std::function<void()>& launches) {
  if (graphs_on_) {
    try {
      graphs_->Run(*stream_, static_cast<uint64_t>(piece), launches);
      return;
    } catch (const CudaError& e) {
      if (e.device_lost()) throw;  // nothing runs plainly either (the caller reports it)
      // Nothing of the piece ran (its launches touch no host state): it runs plainly.
      graphs_on_ = false;
      graphs_off_ = std::string("a capture failed: ") + e.what();
    }
  }
  launches();
}

std::unique_ptr<ModelSequence> DeviceSequenceModel::NewSequence() {
  std::unique_ptr<DeviceModelSequence> seq(new DeviceModelSequence(*this));
  if (std::string lost = Lost(); !lost.empty()) {
    seq->broken_ = std::move(lost);
    return seq;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    UseDevice(device_);
    seq->device_ = std::make_unique<DeviceSequence>(DeviceSequence::Create(*model_, *stream_));
  } catch (const std::exception& e) {
    NoteLost(e);
    seq->device_.reset();
    seq->broken_ = "device sequence on cuda:" + std::to_string(device_) + ": " + e.what();
  }
  return seq;
}

Expected<std::unique_ptr<ModelSequence>, std::string> DeviceSequenceModel::SequenceFrom(
    forward::SequenceState state) {
  std::unique_ptr<ModelSequence> made = NewSequence();
  auto* seq = static_cast<DeviceModelSequence*>(made.get());
  if (!seq->broken_.empty()) return MakeUnexpected(seq->broken_);
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    UseDevice(device_);
    auto restored = RestoreSequence(*model_, config_, state, *seq->device_, *stream_);
    if (!restored) return MakeUnexpected(restored.error());
  } catch (const std::exception& e) {
    NoteLost(e);
    return MakeUnexpected("device sequence restore on cuda:" + std::to_string(device_) + ": " +
                          e.what());
  }
  return made;
}

Expected<DeviceModelSequence*, std::string> DeviceSequenceModel::Own(
    ModelSequence& sequence) const {
  if (&sequence.model() != this) {
    return MakeUnexpected(std::string("the sequence was made by another model"));
  }
  return static_cast<DeviceModelSequence*>(&sequence);
}

const std::string& DeviceSequenceModel::Break(DeviceModelSequence& seq, const std::string& where,
                                              const std::exception& e) const {
  NoteLost(e);
  seq.undo_.Clear();
  seq.broken_ = "device sequence on cuda:" + std::to_string(device_) + " " + where + ": " +
                e.what() + " (the sequence is unusable now)";
  return seq.broken_;
}

Expected<Ok, std::string> DeviceSequenceModel::CheckUsable(const DeviceModelSequence& seq) const {
  if (std::string lost = Lost(); !lost.empty()) return MakeUnexpected(std::move(lost));
  if (!seq.broken_.empty()) return MakeUnexpected(seq.broken_);
  return Ok{};
}

Expected<Ok, std::string> DeviceSequenceModel::CheckStep(const DeviceModelSequence& seq,
                                                         std::span<const int32_t> tokens) const {
  if (auto ok = CheckUsable(seq); !ok) return ok;
  if (auto ok = forward::CheckTokenIds(config_, tokens, seq.pos()); !ok) return ok;
  if (seq.pos() + static_cast<int64_t>(tokens.size()) > context_) {
    return MakeUnexpected("device sequence: " + std::to_string(tokens.size()) +
                          " tokens at position " + std::to_string(seq.pos()) +
                          " do not fit the context (" + std::to_string(context_) + " positions)");
  }
  return Ok{};
}

Expected<std::vector<float>, std::string> DeviceSequenceModel::Run(DeviceModelSequence& seq,
                                                                   std::span<const int32_t> tokens,
                                                                   bool last_only) {
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  std::vector<float> logits(last_only ? vocab : tokens.size() * vocab);
  try {
    UseDevice(device_);
    if (tokens.size() == 1) {
      // One token: the decode step.
      token_->Upload(tokens.data(), sizeof(int32_t), *stream_);
      ModelDecodePieces(*model_, *seq.device_, token_->as<int32_t>(), logits_->as<float>(),
                        StepPieces(), *stream_);
      logits_->Download(logits.data(), vocab * sizeof(float), *stream_);  // waits
      return logits;
    }
    // A prompt: chunks of chunk_rows_ rows, each chunk's rows at once.
    const int64_t total = static_cast<int64_t>(tokens.size());
    for (int64_t begin = 0; begin < total; begin += chunk_rows_) {
      const int64_t rows = std::min<int64_t>(chunk_rows_, total - begin);
      const bool last_chunk = begin + rows == total;
      const RowChunk chunk{seq.device_.get(), rows};
      const RowLogits which = !last_only   ? RowLogits::kEveryRow
                              : last_chunk ? RowLogits::kLastOfEachChunk
                                           : RowLogits::kNone;
      ModelRows(*model_, *rows_, &chunk, 1, tokens.data() + begin, which, logits_->as<float>(),
                *stream_);
      if (!last_only) {
        logits_->Download(logits.data() + static_cast<size_t>(begin) * vocab,
                          static_cast<size_t>(rows) * vocab * sizeof(float), *stream_);
      } else if (last_chunk) {
        logits_->Download(logits.data(), vocab * sizeof(float), *stream_);
      }
    }
    // The last download waited for every queued step.
  } catch (const std::exception& e) {
    return MakeUnexpected(Break(seq, "at position " + std::to_string(seq.pos()), e));
  }
  return logits;
}

Expected<Ok, std::string> DeviceSequenceModel::RunRows(std::span<DeviceModelSequence* const> seqs,
                                                       std::span<const SequenceStep> steps,
                                                       std::vector<std::vector<float>>& out) {
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  std::vector<RowChunk> chunks;
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < steps.size(); ++i) {
    chunks.push_back({seqs[i]->device_.get(), static_cast<int64_t>(steps[i].tokens.size())});
    tokens.insert(tokens.end(), steps[i].tokens.begin(), steps[i].tokens.end());
  }
  // A decode step of every sequence (one token each) is graphed; longer steps are prompts.
  const bool decode_step = tokens.size() == steps.size();
  try {
    UseDevice(device_);
    const int64_t n_chunks = static_cast<int64_t>(chunks.size());
    if (decode_step) {
      // The uploads first: a graph cannot hold copies from host memory.
      StageRows(*model_, *rows_, chunks.data(), n_chunks, tokens.data(), *stream_);
      const DecodePieces pieces = StepPieces();
      ModelRowsStaged(*model_, *rows_, chunks.data(), n_chunks, RowLogits::kEveryRow,
                      logits_->as<float>(), *stream_, &pieces);
    } else {
      ModelRows(*model_, *rows_, chunks.data(), n_chunks, tokens.data(), RowLogits::kEveryRow,
                logits_->as<float>(), *stream_);
    }
    std::vector<float> all(tokens.size() * vocab);
    logits_->Download(all.data(), all.size() * sizeof(float), *stream_);  // waits
    size_t row = 0;
    for (const SequenceStep& step : steps) {
      const size_t n = step.tokens.size();
      out.emplace_back(all.begin() + static_cast<int64_t>(row * vocab),
                       all.begin() + static_cast<int64_t>((row + n) * vocab));
      row += n;
    }
  } catch (const std::exception& e) {
    NoteLost(e);
    // Every sequence of the call may have moved part of the way: all are unusable now.
    const std::string why = "device batch on cuda:" + std::to_string(device_) + ": " + e.what() +
                            " (its sequences are unusable now)";
    for (DeviceModelSequence* s : seqs) s->broken_ = why;
    return MakeUnexpected(why);
  }
  return Ok{};
}

Expected<std::vector<float>, std::string> DeviceSequenceModel::Forward(
    ModelSequence& sequence, std::span<const int32_t> tokens, const StepOptions& options) {
  auto own = Own(sequence);
  if (!own) return MakeUnexpected(own.error());
  if (auto ok = CheckStep(**own, tokens); !ok) return MakeUnexpected(ok.error());
  std::lock_guard<std::mutex> lock(mutex_);
  (*own)->undo_.Clear();  // only the last call's row can be taken back
  if (options.final_streams != nullptr || options.undoable_last_row) {
    return RunTraced(**own, tokens, options.last_row_only, options.final_streams,
                     options.undoable_last_row);
  }
  return Run(**own, tokens, options.last_row_only);
}

Expected<std::vector<float>, std::string> DeviceSequenceModel::RunTraced(
    DeviceModelSequence& seq, std::span<const int32_t> tokens, bool last_only,
    std::vector<float>* final_streams, bool undoable) {
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  const size_t row = static_cast<size_t>(config_.hc_mult * config_.dim);
  std::vector<float> logits(last_only ? vocab : tokens.size() * vocab);
  try {
    UseDevice(device_);
    if (final_streams != nullptr) Reserve(streams_, tokens.size() * row * sizeof(float));
    for (size_t i = 0; i < tokens.size(); ++i) {
      token_->Upload(&tokens[i], sizeof(int32_t), *stream_);
      // The undo plan is one row's writes on the state that holds the rows before it.
      if (undoable && i + 1 == tokens.size()) {
        seq.undo_.Keep(config_, *model_, *seq.device_, *stream_);
      }
      ModelDecodePieces(*model_, *seq.device_, token_->as<int32_t>(), logits_->as<float>(),
                        StepPieces(), *stream_);
      // The streams after the last block are still in the model's h (the head only reads them).
      if (final_streams != nullptr) {
        CopyDeviceToDevice(streams_.as<float>() + i * row, model_->h.as<float>(),
                           row * sizeof(float), *stream_);
      }
      // As Run: the next token's upload queues after this step has read its token.
      if (!last_only || i + 1 == tokens.size()) {
        logits_->Download(logits.data() + (last_only ? 0 : i * vocab), vocab * sizeof(float),
                          *stream_);  // waits
      }
    }
    if (final_streams != nullptr) {
      final_streams->resize(tokens.size() * row);
      streams_.Download(final_streams->data(), final_streams->size() * sizeof(float), *stream_);
    }
  } catch (const std::exception& e) {
    return MakeUnexpected(Break(seq, "at position " + std::to_string(seq.pos()), e));
  }
  return logits;
}

Expected<std::vector<std::vector<float>>, std::string> DeviceSequenceModel::ForwardBatch(
    std::span<const SequenceStep> steps) {
  if (steps.empty()) return MakeUnexpected(std::string("an empty batch"));
  std::vector<DeviceModelSequence*> seqs;
  for (size_t i = 0; i < steps.size(); ++i) {
    auto own = Own(*steps[i].sequence);
    if (!own) return MakeUnexpected("step " + std::to_string(i) + ": " + own.error());
    for (const DeviceModelSequence* s : seqs) {
      if (s == *own)
        return MakeUnexpected("step " + std::to_string(i) + ": a sequence given twice");
    }
    if (auto ok = CheckStep(**own, steps[i].tokens); !ok) {
      return MakeUnexpected("step " + std::to_string(i) + ": " + ok.error());
    }
    seqs.push_back(*own);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (DeviceModelSequence* s : seqs) s->undo_.Clear();  // only the last call's row can be taken back
  std::vector<std::vector<float>> out;
  // Consecutive steps share a ModelRows call while their rows fit chunk_rows_; a longer step
  // runs alone in chunks (as Forward).
  size_t i = 0;
  while (i < steps.size()) {
    if (static_cast<int64_t>(steps[i].tokens.size()) > chunk_rows_) {
      auto logits = Run(*seqs[i], steps[i].tokens, false);
      if (!logits) return MakeUnexpected("step " + std::to_string(i) + ": " + logits.error());
      out.push_back(std::move(*logits));
      ++i;
      continue;
    }
    size_t end = i;
    int64_t rows = 0;
    while (end < steps.size() &&
           rows + static_cast<int64_t>(steps[end].tokens.size()) <= chunk_rows_) {
      rows += static_cast<int64_t>(steps[end].tokens.size());
      ++end;
    }
    auto ran = RunRows(std::span<DeviceModelSequence* const>(seqs).subspan(i, end - i),
                       steps.subspan(i, end - i), out);
    if (!ran) {
      return MakeUnexpected("steps " + std::to_string(i) + ".." + std::to_string(end - 1) + ": " +
                            ran.error());
    }
    i = end;
  }
  return out;
}

Expected<Ok, std::string> DeviceSequenceModel::TakeBackLastRow(ModelSequence& sequence) {
  auto own = Own(sequence);
  if (!own) return MakeUnexpected(own.error());
  DeviceModelSequence& seq = **own;
  if (auto ok = CheckUsable(seq); !ok) return MakeUnexpected(ok.error());
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    UseDevice(device_);
    return seq.undo_.TakeBack(config_, *model_, *seq.device_, *stream_);
  } catch (const std::exception& e) {
    return MakeUnexpected(Break(seq, "taking back position " + std::to_string(seq.pos() - 1), e));
  }
}

Expected<std::vector<float>, std::string> DeviceSequenceModel::ForwardMtpLast(
    ModelSequence& sequence, std::span<const float> streams, std::span<const int32_t> next_tokens) {
  auto own = Own(sequence);
  if (!own) return MakeUnexpected(own.error());
  DeviceModelSequence& seq = **own;
  if (auto ok = CheckUsable(seq); !ok) return MakeUnexpected(ok.error());
  if (model_->mtp.empty()) {
    return MakeUnexpected(
        std::string("the checkpoint has no MTP block (num_nextn_predict_layers 0)"));
  }
  if (auto ok = forward::CheckTokenIds(config_, next_tokens, seq.mtp_pos()); !ok) {
    return MakeUnexpected(ok.error());
  }
  const size_t rows = next_tokens.size();
  const size_t row = static_cast<size_t>(config_.hc_mult * config_.dim);
  if (streams.size() != rows * row) {
    return MakeUnexpected("MTP: " + std::to_string(streams.size()) + " stream values for " +
                          std::to_string(rows) + " tokens (want rows*hc*dim)");
  }
  if (seq.mtp_pos() + static_cast<int64_t>(rows) > context_) {
    return MakeUnexpected("device sequence: " + std::to_string(rows) + " MTP rows at position " +
                          std::to_string(seq.mtp_pos()) + " do not fit the context (" +
                          std::to_string(context_) + " positions)");
  }
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  std::vector<float> logits(vocab);
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    UseDevice(device_);
    Reserve(mtp_streams_, streams.size_bytes());
    Reserve(mtp_tokens_, next_tokens.size_bytes());
    mtp_streams_.Upload(streams.data(), streams.size_bytes(), *stream_);
    mtp_tokens_.Upload(next_tokens.data(), next_tokens.size_bytes(), *stream_);
    DeviceSequence& d = *seq.device_;
    for (size_t i = 0; i < rows; ++i) {
      MtpDecode(model_->mtp.front(), model_->embed, model_->head.head, d.mtp.front(),
                mtp_streams_.as<float>() + i * row, mtp_tokens_.as<int32_t>() + i, d.mtp_pos,
                i + 1 == rows ? logits_->as<float>() : nullptr, *stream_);
      ++d.mtp_pos;
    }
    logits_->Download(logits.data(), vocab * sizeof(float), *stream_);  // waits
  } catch (const std::exception& e) {
    return MakeUnexpected(Break(seq, "at MTP position " + std::to_string(seq.mtp_pos()), e));
  }
  return logits;
}

}  // namespace dsagent::engine::kernels::cuda
