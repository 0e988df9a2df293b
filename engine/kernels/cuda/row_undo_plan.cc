#include "engine/kernels/cuda/row_undo_plan.h"

namespace dsagent::engine::kernels::cuda {
namespace {

// A compressor's ranges for the row at `pos`: its slot, or every slot when the row completes a
// block. The slot layout is forward::CompressorState's: overlapping compressors (ratio 4) keep the
// previous block in slots [0, ratio), so the current block starts at slot ratio.
void AddCompressor(std::vector<ByteRange>& out, int64_t layer, SequenceBuffer kv,
                   SequenceBuffer score, int ratio, int64_t head_dim, int64_t pos,
                   size_t all_bytes) {
  const bool pooled = (pos + 1) % ratio == 0;
  const int64_t width = (ratio == 4 ? 2 : 1) * head_dim;
  const int64_t slot = (ratio == 4 ? ratio : 0) + pos % ratio;
  const size_t offset = pooled ? 0 : static_cast<size_t>(slot * width) * sizeof(float);
  const size_t bytes = pooled ? all_bytes : static_cast<size_t>(width) * sizeof(float);
  out.push_back({layer, kv, offset, bytes});
  out.push_back({layer, score, offset, bytes});
}

}  // namespace

std::vector<ByteRange> PlanRowUndo(const ModelConfig& c, int64_t context, int64_t pos) {
  std::vector<ByteRange> out;
  const size_t row_bytes = static_cast<size_t>(c.head_dim) * sizeof(uint16_t);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const int ratio = c.compress_ratios[static_cast<size_t>(l)];
    out.push_back({l, SequenceBuffer::kCache, static_cast<size_t>(pos % c.window_size) * row_bytes,
                   row_bytes});
    if (ratio == 0) continue;
    const bool pooled = (pos + 1) % ratio == 0;
    const int64_t entry = pos / ratio;  // the entry a pooling row appends
    AddCompressor(out, l, SequenceBuffer::kCompressorKv, SequenceBuffer::kCompressorScore, ratio,
                  c.head_dim, pos,
                  SequenceBufferBytes(c, context, l, SequenceBuffer::kCompressorKv));
    if (pooled) {
      out.push_back({l, SequenceBuffer::kCache,
                     static_cast<size_t>(c.window_size + entry) * row_bytes, row_bytes});
    }
    if (ratio != 4) continue;
    AddCompressor(out, l, SequenceBuffer::kIndexCompressorKv, SequenceBuffer::kIndexCompressorScore,
                  ratio, c.index_head_dim, pos,
                  SequenceBufferBytes(c, context, l, SequenceBuffer::kIndexCompressorKv));
    if (pooled) {
      const size_t key_bytes = static_cast<size_t>(c.index_head_dim) * sizeof(uint16_t);
      out.push_back(
          {l, SequenceBuffer::kIndexKeys, static_cast<size_t>(entry) * key_bytes, key_bytes});
    }
  }
  return out;
}

size_t RangeBytes(const std::vector<ByteRange>& ranges) {
  size_t n = 0;
  for (const ByteRange& r : ranges) n += r.bytes;
  return n;
}

}  // namespace dsagent::engine::kernels::cuda
