#include "engine/kernels/cuda/indexer_step.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/indexer_ops.h"
#include "engine/kernels/cuda/vector_steps.h"

namespace dsagent::engine::kernels::cuda {

DeviceIndexer DeviceIndexer::Create(const IndexerShape& shape, const WeightRows& wq_b,
                                    const WeightRows& weights_proj, const std::vector<float>& freqs,
                                    DeviceCompressor compressor, CudaStream& stream) {
  const auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("DeviceIndexer: " + what);
  };
  need(shape.heads > 0 && shape.head_dim > 0 && shape.ratio > 0 && shape.capacity >= 0,
       "heads, head_dim and ratio must be positive");
  need(shape.topk > 0 && shape.topk <= 4096, "topk must be 1..4096");
  need(static_cast<int64_t>(freqs.size()) == shape.rope_dims / 2,
       "freqs must have rope_dims / 2 values");
  need(wq_b.cols % 128 == 0, "wq_b's input (q_lora_rank) must split into FP8 blocks of 128");
  need(compressor.shape.head_dim == shape.head_dim && compressor.shape.rotate &&
           compressor.shape.ratio == shape.ratio,
       "the compressor must be the indexer's (same head_dim and ratio, rotate)");
  DeviceIndexer ix;
  ix.shape = shape;
  ix.wq_b = DeviceWeight::Upload(wq_b, shape.heads * shape.head_dim, stream);
  ix.weights_proj = DeviceWeight::Upload(weights_proj, shape.heads, stream);
  ix.freqs = DeviceBuffer(freqs.size() * sizeof(float));
  ix.freqs.Upload(freqs.data(), ix.freqs.bytes(), stream);
  stream.Synchronize();
  ix.compressor = std::move(compressor);
  ix.q = DeviceFloats(shape.heads * shape.head_dim);
  ix.head_weights = DeviceFloats(shape.heads);
  ix.scores = DeviceFloats(shape.capacity);
  ix.topk_scratch = DeviceBuffer(static_cast<size_t>(TopKScratchBytes(shape.topk)));
  return ix;
}

DeviceIndexerState DeviceIndexerState::Create(const DeviceIndexer& ix, CudaStream& stream) {
  DeviceIndexerState st;
  st.keys =
      DeviceBuffer(static_cast<size_t>(ix.shape.capacity * ix.shape.head_dim) * sizeof(uint16_t));
  st.compressor = DeviceCompressorState::Create(ix.compressor.shape, stream);
  st.Reset(ix, stream);
  stream.Synchronize();
  return st;
}

void DeviceIndexerState::Reset(const DeviceIndexer& ix, CudaStream& stream) {
  // Zeroed keys: a snapshot's unused rows are then the host's (never read either way).
  keys.Zero(stream);
  compressor.Reset(ix.compressor.shape, stream);
}

namespace {

// The keys the token at pos sees, (pos + 1) / ratio. Throws CudaError past the capacity.
int64_t VisibleKeys(const IndexerShape& s, int64_t pos) {
  const int64_t visible = (pos + 1) / s.ratio;
  if (visible > s.capacity) {
    throw CudaError("IndexerSelect: position " + std::to_string(pos) + " needs " +
                    std::to_string(visible) + " keys, the device holds " +
                    std::to_string(s.capacity));
  }
  return visible;
}

// The head weights' factor: hd^-0.5 * heads^-0.5.
float HeadScale(const IndexerShape& s) {
  return static_cast<float>(std::pow(static_cast<double>(s.head_dim), -0.5) *
                            std::pow(static_cast<double>(s.heads), -0.5));
}

// The query's steps at pos (IndexerQueryPrep): the indexer's RoPE dims and frequencies.
IndexerQueryPrep QueryPrepOf(const DeviceIndexer& ix, int64_t pos) {
  IndexerQueryPrep prep;
  prep.on = true;
  prep.freqs = ix.freqs.as<float>();
  prep.rope_dims = ix.shape.rope_dims;
  prep.pos = pos;
  return prep;
}

// The scores of the visible keys and their top-k (the selection's count returned).
int64_t SelectByScores(DeviceIndexer& ix, DeviceIndexerState& state, const float* q,
                       const float* hw, int64_t visible, int32_t* selected, CudaStream& stream,
                       int32_t entry_offset = 0, const IndexerQueryPrep& prep = {},
                       const IndexerSelectScratch* scratch = nullptr) {
  const IndexerShape& s = ix.shape;
  if (visible == 0) return 0;
  float* scores = scratch != nullptr ? scratch->scores : ix.scores.as<float>();
  void* topk = scratch != nullptr ? scratch->topk : ix.topk_scratch.data();
  const int64_t topk_bytes =
      scratch != nullptr ? scratch->topk_bytes : static_cast<int64_t>(ix.topk_scratch.bytes());
  IndexerScores(q, hw, s.heads, s.head_dim, state.keys.as<uint16_t>(), visible, scores, stream,
                HeadScale(s), prep);
  TopK(scores, 1, visible, s.topk, selected, stream, topk, topk_bytes, entry_offset);
  return visible < s.topk ? visible : s.topk;
}

// The steps of `rows` tokens' queries after wq_b (q [rows, heads * head_dim], bf16): RoPE at
// each row's position, Hadamard, FP4 per 32. Row t's position is positions[t] (device int32), or
// `pos` for a single row without them (the decode step).
void QuerySteps(DeviceIndexer& ix, int64_t rows, const int32_t* positions, int64_t pos, float* q,
                CudaStream& stream) {
  const IndexerShape& s = ix.shape;
  RunVectorSteps(q, rows * s.heads, s.head_dim,
                 IndexerQueryVectorSteps(s.head_dim, s.heads, QueryPrepOf(ix, pos), positions),
                 stream);
}

// The queries' product of `rows` tokens (qr_fp8 [rows, q_lora_rank], act_quant(qr)): qr_fp8 .
// wq_b^T (bf16) into q, before QuerySteps.
void QueryProduct(DeviceIndexer& ix, const float* qr_fp8, int64_t rows, float* q,
                  CudaStream& stream) {
  const IndexerShape& s = ix.shape;
  MatVec(ix.wq_b, qr_fp8, rows, ix.wq_b.cols, q, s.heads * s.head_dim, /*round_bf16=*/true, stream);
}

// The head weights of `rows` tokens: bf16(weights_proj . x) (the scores take them times hd^-0.5 *
// heads^-0.5, bf16: HeadScale).
void HeadWeights(DeviceIndexer& ix, const float* x, int64_t x_stride, int64_t rows, float* hw,
                 CudaStream& stream) {
  MatVec(ix.weights_proj, x, rows, x_stride, hw, ix.shape.heads, /*round_bf16=*/true, stream);
}

// The decode step's query after its product: finished here, or (fused steps) left to the scores'
// launch (IndexerSelectAppended).
void FinishOrLeaveQuery(DeviceIndexer& ix, int64_t pos, CudaStream& stream) {
  ix.q_finished = !FusedStepsOn();
  if (ix.q_finished) QuerySteps(ix, 1, nullptr, pos, ix.q.as<float>(), stream);
}

}  // namespace

int64_t IndexerSelect(DeviceIndexer& ix, DeviceIndexerState& state, const float* x,
                      const float* qr_fp8, int64_t pos, int32_t* selected, CudaStream& stream) {
  IndexerAppendKey(ix, state, x, pos, stream);  // first: it checks the capacity
  IndexerHeadWeights(ix, x, stream);
  IndexerQuery(ix, qr_fp8, pos, stream);
  return IndexerSelectAppended(ix, state, pos, selected, stream);
}

void IndexerAppendKey(DeviceIndexer& ix, DeviceIndexerState& state, const float* x, int64_t pos,
                      CudaStream& stream) {
  VisibleKeys(ix.shape, pos);
  CompressToken(ix.compressor, state.compressor, x, pos, state.keys.as<uint16_t>(), stream);
}

void IndexerHeadWeights(DeviceIndexer& ix, const float* x, CudaStream& stream) {
  HeadWeights(ix, x, ix.weights_proj.cols, 1, ix.head_weights.as<float>(), stream);
}

void IndexerQuery(DeviceIndexer& ix, const float* qr_fp8, int64_t pos, CudaStream& stream) {
  QueryProduct(ix, qr_fp8, 1, ix.q.as<float>(), stream);
  FinishOrLeaveQuery(ix, pos, stream);
}

void IndexerQueryOnRmsNorm(DeviceIndexer& ix, float* qr, const float* norm_weight, float eps,
                           int64_t pos, CudaStream& stream) {
  MatVecOnRmsNorm(ix.wq_b, qr, norm_weight, eps, ix.q.as<float>(), /*round_bf16=*/true, stream);
  FinishOrLeaveQuery(ix, pos, stream);
}

int64_t IndexerSelectAppended(DeviceIndexer& ix, DeviceIndexerState& state, int64_t pos,
                              int32_t* selected, CudaStream& stream, int32_t entry_offset) {
  return SelectByScores(ix, state, ix.q.as<float>(), ix.head_weights.as<float>(),
                        VisibleKeys(ix.shape, pos), selected, stream, entry_offset,
                        ix.q_finished ? IndexerQueryPrep{} : QueryPrepOf(ix, pos));
}

void IndexerHeadWeightsRows(DeviceIndexer& ix, const float* x, int64_t x_stride, int64_t rows,
                            float* hw, CudaStream& stream) {
  HeadWeights(ix, x, x_stride, rows, hw, stream);
}

void IndexerQueryRows(DeviceIndexer& ix, const float* qr_fp8, int64_t rows,
                      const int32_t* positions, float* q, CudaStream& stream) {
  QueryProduct(ix, qr_fp8, rows, q, stream);
  QuerySteps(ix, rows, positions, 0, q, stream);
}

void IndexerAppendKeys(DeviceIndexer& ix, DeviceIndexerState& state, const float* key_projected,
                       int64_t pos0, int64_t rows, const CompressRowsScratch& scratch,
                       CudaStream& stream) {
  if (rows <= 0) return;
  VisibleKeys(ix.shape, pos0 + rows - 1);
  CompressProjectedRows(ix.compressor, state.compressor, key_projected, pos0, rows,
                        state.keys.as<uint16_t>(), scratch, stream);
}

int64_t IndexerRowsScratchFloats(const IndexerShape& shape) {
  return kIndexerRowsGroup * std::max(shape.capacity, shape.topk);
}

void IndexerSelectRows(DeviceIndexer& ix, DeviceIndexerState& state, const float* q,
                       const float* hw, int64_t pos0, int64_t rows, int32_t* selected,
                       float* scores, CudaStream& stream) {
  const IndexerShape& s = ix.shape;
  if (rows <= 0) return;
  VisibleKeys(s, pos0 + rows - 1);
  for (int64_t g0 = 0; g0 < rows; g0 += kIndexerRowsGroup) {
    const int64_t g = std::min(kIndexerRowsGroup, rows - g0);
    // Each row's scores padded to at least topk (-inf past its keys): TopK then keeps topk per
    // row, each row's own selection first. The group's rows pad_to apart.
    const int64_t pad_to = std::max(s.topk, (pos0 + g0 + g) / s.ratio);
    IndexerScoresRows(q + g0 * s.heads * s.head_dim, hw + g0 * s.heads, s.heads, s.head_dim,
                      state.keys.as<uint16_t>(), pos0 + g0, g, s.ratio, scores, pad_to, pad_to,
                      stream, HeadScale(s));
    TopK(scores, g, pad_to, s.topk, selected + g0 * s.topk, stream);
  }
}

int64_t IndexerSequencesScoresLength(const IndexerShape& shape, int64_t longest) {
  return std::max(shape.topk, longest);
}

int64_t IndexerSequencesScoresFloats(const IndexerShape& shape, int64_t rows, int64_t longest) {
  return std::min(rows, kIndexerRowsGroup) * IndexerSequencesScoresLength(shape, longest);
}

void IndexerSelectSequences(const DeviceIndexer& ix, const CompressorRow* sequences, const float* q,
                            const float* hw, const int32_t* positions, int64_t rows,
                            int64_t longest, float* scores, int32_t* selected,
                            int64_t selected_stride, int32_t entry_offset, CudaStream& stream) {
  const IndexerShape& s = ix.shape;
  if (longest > s.capacity) {
    throw CudaError("IndexerSelectSequences: a row sees " + std::to_string(longest) +
                    " keys, the device holds " + std::to_string(s.capacity));
  }
  const int64_t length = IndexerSequencesScoresLength(s, longest);
  for (int64_t g0 = 0; g0 < rows; g0 += kIndexerRowsGroup) {
    const int64_t g = std::min(kIndexerRowsGroup, rows - g0);
    IndexerScoresSequences(q + g0 * s.heads * s.head_dim, hw + g0 * s.heads, s.heads, s.head_dim,
                           sequences + g0, positions + g0, g, s.ratio, longest, scores, length,
                           stream, HeadScale(s), QueryPrepOf(ix, 0));
    TopKSequences(scores, g, length, s.topk, positions + g0, s.ratio,
                  selected + g0 * selected_stride, selected_stride, stream, entry_offset);
  }
}

void IndexerQueryProductRows(DeviceIndexer& ix, const float* qr_fp8, int64_t rows, float* q,
                             CudaStream& stream) {
  QueryProduct(ix, qr_fp8, rows, q, stream);
}

int64_t IndexerSelectQueried(DeviceIndexer& ix, DeviceIndexerState& state,
                             const float* key_projected, const float* q, const float* hw,
                             int64_t pos, int32_t* selected, CudaStream& stream,
                             const IndexerSelectScratch* scratch, int32_t entry_offset) {
  const int64_t visible = VisibleKeys(ix.shape, pos);
  CompressProjected(ix.compressor, state.compressor, key_projected, pos, state.keys.as<uint16_t>(),
                    stream, scratch != nullptr ? scratch->key_entry : nullptr);
  return SelectByScores(ix, state, q, hw, visible, selected, stream, entry_offset, {}, scratch);
}

}  // namespace dsagent::engine::kernels::cuda
