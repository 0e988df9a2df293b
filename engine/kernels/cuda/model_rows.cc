#include "engine/kernels/cuda/model_rows.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/attention_step.h"
#include "engine/kernels/cuda/indexer_ops.h"
#include "engine/kernels/cuda/matvec_tiled.h"
#include "engine/kernels/cuda/phase_times.h"

namespace dsagent::engine::kernels::cuda {
namespace {

// Every buffer's size in elements of 4 bytes, one place for CreateDeviceRows and DeviceRowsBytes.
struct RowsSizes {
  int64_t hn = 0, mix = 0, dim = 0, hc = 0;
  int64_t rank = 0, qw = 0, hd = 0, z = 0;
  int64_t experts = 0, k = 0, inter = 0;
  int64_t kv_projected = 0, index_projected = 0, index_qw = 0, index_heads = 0;
  int64_t list = 0, topk = 0, heads = 0;  // the chunk-wide attention's lists
  int64_t index_scores = 0;               // and its indexer's scores (fixed, not per row)
  int64_t index_capacity = 0, entry = 0;  // a row chain's (RowChain) scores and entries
  int64_t o_groups = 0, o_lora_rank = 0;  // the attention's output groups (the largest)
  bool offload = false;
};

RowsSizes SizesOf(const DeviceModel& m) {
  RowsSizes s;
  s.hc = m.hc.hc;
  s.dim = m.hc.dim;
  s.hn = s.hc * s.dim;
  s.mix = (2 + s.hc) * s.hc;
  for (const DeviceBlock& b : m.layers) {
    const AttentionShape& a = b.attn.shape;
    s.rank = std::max(s.rank, a.q_lora_rank);
    s.qw = std::max(s.qw, a.heads * a.head_dim);
    s.hd = std::max(s.hd, a.head_dim);
    s.z = std::max(s.z, a.o_groups * a.o_lora_rank);
    s.heads = std::max(s.heads, a.heads);
    s.o_groups = std::max(s.o_groups, a.o_groups);
    s.o_lora_rank = std::max(s.o_lora_rank, a.o_lora_rank);
    const int64_t topk = b.attn.indexer ? b.attn.indexer->shape.topk : 0;
    s.topk = std::max(s.topk, topk);
    s.list = std::max(s.list, a.window + (a.ratio == 0 ? 0 : topk > 0 ? topk : a.capacity));
    if (b.attn.compressor) {
      s.kv_projected = std::max(s.kv_projected, 2 * b.attn.compressor->shape.width());
      s.entry = std::max(s.entry, b.attn.compressor->shape.head_dim);
    }
    if (b.attn.indexer) {
      const DeviceIndexer& ix = *b.attn.indexer;
      s.index_capacity = std::max(s.index_capacity, ix.shape.capacity);
      s.entry = std::max(s.entry, ix.compressor.shape.head_dim);
      s.index_projected = std::max(s.index_projected, 2 * ix.compressor.shape.width());
      s.index_qw = std::max(s.index_qw, ix.shape.heads * ix.shape.head_dim);
      s.index_heads = std::max(s.index_heads, ix.shape.heads);
      s.index_scores = std::max(s.index_scores, IndexerRowsScratchFloats(ix.shape));
    }
    const MoeShape& f = b.ffn.shape;
    s.experts = std::max(s.experts, f.route.experts);
    s.k = std::max(s.k, f.route.k);
    s.inter = std::max(s.inter, f.inter);
    s.offload = s.offload || b.ffn.on_device < f.route.experts;
  }
  return s;
}

// Each per-row device buffer of r with its size per row, in 4-byte floats (or int32).
// clang-format off
std::vector<std::pair<DeviceBuffer*, int64_t>> PerRowBuffers(DeviceRows& r, const RowsSizes& s) {
  return {{&r.tokens, 1},                 {&r.positions, 1},           {&r.h, s.hn},
          {&r.last, s.hn},                {&r.products, s.mix},        {&r.y, s.dim},
          {&r.f, s.dim},                  {&r.post, s.hc},             {&r.comb, s.hc * s.hc},
          {&r.x_quant, s.dim},            {&r.qr, s.rank},             {&r.qr_quant, s.rank},
          {&r.q, s.qw},                   {&r.o, s.qw},                {&r.kv, s.hd},
          {&r.z, s.z},                    {&r.logits, s.experts},      {&r.ids, s.k},
          {&r.weights, s.k},              {&r.x_slots, s.k * s.dim},   {&r.g, s.k * s.inter},
          {&r.u, s.k * s.inter},          {&r.routed, s.k * s.dim},
          {&r.shared_g, s.inter},         {&r.shared_u, s.inter},      {&r.shared_out, s.dim},
          {&r.head_products, s.hc},       {&r.head_y, s.dim},
          {&r.kv_projected, s.kv_projected},         {&r.index_projected, s.index_projected},
          {&r.index_q, s.index_qw},                  {&r.index_hw, s.index_heads},
          {&r.kv_staged, (s.hd + 1) / 2},
          {&r.lists, s.list},             {&r.list_n, 1},              {&r.selected, s.topk},
          {&r.route_arrivals, 1},         {&r.hc_arrivals, 1},
          {&r.sequence_kv_entries, s.entry},         {&r.sequence_key_entries, s.entry}};
}
// clang-format on

// The device arrays of a batched step's rows' sequences (StageRows): each layer's cache and two
// compressors of every row.
size_t SequenceArraysBytes(const DeviceModel& m, int64_t max_rows) {
  return m.layers.size() * static_cast<size_t>(max_rows) *
         (sizeof(void*) + 2 * sizeof(CompressorRow));
}

// GateAndRoute's count of routed rows (RouteGrouping::arrivals).
constexpr int64_t kGroupArrivalsBytes = sizeof(unsigned);

// The routed slots of max_rows rows that DeviceRows::groups holds, and the paired w1 and w3's
// counts for their SwiGLU (PairSwiGlu) over that many slots.
int64_t GroupedSlots(const RowsSizes& s, int64_t max_rows) {
  return std::min<int64_t>(kMaxGroupedSlots, max_rows * std::max<int64_t>(s.k, 1));
}
int64_t SwiGluArrivalsBytes(const RowsSizes& s, int64_t max_rows) {
  return std::max<int64_t>(4, PairSwiGluArrivalsBytes(GroupedSlots(s, max_rows), s.inter));
}
int64_t SharedSwiGluArrivalsBytes(const RowsSizes& s, int64_t max_rows) {
  return std::max<int64_t>(4, MatVecPairSwiGluArrivalsBytes(max_rows, s.inter));
}

// The attention's wo_a's counts for its output's act_quant (MatVecRowGroupsQuantized), for the
// largest output groups.
int64_t QuantizeArrivalsBytes(const RowsSizes& s, int64_t max_rows) {
  return std::max<int64_t>(4, QuantizedRowGroupsArrivalsBytes(s.o_groups, s.o_lora_rank, max_rows));
}

// The row chains of a DeviceRows for max_rows rows, and one chain's device bytes.
int64_t RowChains(int64_t max_rows) { return max_rows > 1 ? std::min(max_rows, kRowChains) : 0; }
int64_t RowChainBytes(const RowsSizes& s) {
  return (s.index_capacity + 2 * s.entry) * 4 + (s.topk > 0 ? TopKScratchBytes(s.topk) : 0);
}

// The chunk-wide attention's split scratch, in floats (a fixed number of rows).
int64_t AttentionSplitFloats(const RowsSizes& s) {
  return SparseAttentionRowsScratchFloats(kAttentionRowsGroup, s.heads, s.hd);
}

// The compressors' chunk scratch for max_rows rows (CompressProjectedRows), the largest over the
// model's compressors: blocks, and floats of the gathered slots (each of kv and score) and of the
// entries.
struct CompressSizes {
  int64_t blocks = 0, slots = 0, entries = 0;
  int64_t Floats() const { return 2 * slots + entries + blocks; }
};
CompressSizes CompressSizesOf(const DeviceModel& m, int64_t max_rows) {
  CompressSizes z;
  const auto add = [&](const CompressorShape& c) {
    const int64_t blocks = CompressRowsBlocks(c, max_rows);
    z.blocks = std::max(z.blocks, blocks);
    z.slots = std::max(z.slots, blocks * c.slots() * c.width());
    z.entries = std::max(z.entries, blocks * c.head_dim);
  };
  for (const DeviceBlock& b : m.layers) {
    if (b.attn.compressor) add(b.attn.compressor->shape);
    if (b.attn.indexer) add(b.attn.indexer->compressor.shape);
  }
  return z;
}

}  // namespace

int64_t DeviceRowsBytes(const DeviceModel& m, int64_t max_rows) {
  int64_t total = 0;
  const RowsSizes s = SizesOf(m);
  DeviceRows none;  // never allocated: only the table's sizes are used
  for (const auto& [buffer, n] : PerRowBuffers(none, s)) total += n * max_rows * 4;
  return total +
         (AttentionSplitFloats(s) + s.index_scores + CompressSizesOf(m, max_rows).Floats()) * 4 +
         SparseAttentionRowsArrivalsBytes(kAttentionRowsGroup, s.heads) +
         RowChains(max_rows) * RowChainBytes(s) + kGroupArrivalsBytes +
         QuantizeArrivalsBytes(s, max_rows) + SwiGluArrivalsBytes(s, max_rows) +
         SharedSwiGluArrivalsBytes(s, max_rows) + MatVecRmsNormQuantArrivalsBytes(max_rows) +
         static_cast<int64_t>(SequenceArraysBytes(m, max_rows));
}

DeviceRows CreateDeviceRows(const DeviceModel& m, int64_t max_rows) {
  if (max_rows < 1) throw std::out_of_range("CreateDeviceRows: at least one row");
  const RowsSizes s = SizesOf(m);
  DeviceRows r;
  r.max_rows = max_rows;
  for (const auto& [buffer, n] : PerRowBuffers(r, s)) {
    *buffer = DeviceBuffer(static_cast<size_t>(n * max_rows) * 4);
  }
  r.list_stride = s.list;
  r.topk = s.topk;
  r.attention_splits = DeviceBuffer(static_cast<size_t>(AttentionSplitFloats(s)) * 4);
  r.index_scores = DeviceBuffer(static_cast<size_t>(s.index_scores) * 4);
  r.attention_arrivals = DeviceBuffer(
      static_cast<size_t>(SparseAttentionRowsArrivalsBytes(kAttentionRowsGroup, s.heads)));
  const CompressSizes z = CompressSizesOf(m, max_rows);
  r.compress_blocks = z.blocks;
  r.compress_kv = DeviceBuffer(static_cast<size_t>(z.slots) * 4);
  r.compress_score = DeviceBuffer(static_cast<size_t>(z.slots) * 4);
  r.compress_entries = DeviceBuffer(static_cast<size_t>(z.entries) * 4);
  r.compress_positions = DeviceBuffer(static_cast<size_t>(z.blocks) * 4);
  r.row_caches = DeviceBuffer(m.layers.size() * static_cast<size_t>(max_rows) * sizeof(void*));
  r.row_compressors =
      DeviceBuffer(m.layers.size() * static_cast<size_t>(2 * max_rows) * sizeof(CompressorRow));
  r.kv_side = std::make_unique<SideStream>();
  r.index_side = std::make_unique<SideStream>();
  r.query_side = std::make_unique<SideStream>();
  r.lists_side = std::make_unique<SideStream>();
  r.shared_side = std::make_unique<SideStream>();
  for (int64_t c = 0; c < RowChains(max_rows); ++c) {
    RowChain chain;
    chain.side = std::make_unique<SideStream>();
    chain.index_scores = DeviceBuffer(static_cast<size_t>(s.index_capacity) * 4);
    chain.topk_scratch =
        DeviceBuffer(static_cast<size_t>(s.topk > 0 ? TopKScratchBytes(s.topk) : 0));
    chain.kv_entry = DeviceBuffer(static_cast<size_t>(s.entry) * 4);
    chain.key_entry = DeviceBuffer(static_cast<size_t>(s.entry) * 4);
    r.row_chains.push_back(std::move(chain));
  }
  CudaStream zeroing;  // the last-CTA counts start at zero (their kernels leave them so)
  r.route_arrivals.Zero(zeroing);
  r.hc_arrivals.Zero(zeroing);
  r.attention_arrivals.Zero(zeroing);
  r.group_arrivals = DeviceBuffer(kGroupArrivalsBytes);
  r.group_arrivals.Zero(zeroing);
  r.quantize_arrivals = DeviceBuffer(static_cast<size_t>(QuantizeArrivalsBytes(s, max_rows)));
  r.quantize_arrivals.Zero(zeroing);
  r.norm_arrivals = DeviceBuffer(static_cast<size_t>(MatVecRmsNormQuantArrivalsBytes(max_rows)));
  r.norm_arrivals.Zero(zeroing);
  r.swiglu_arrivals = DeviceBuffer(static_cast<size_t>(SwiGluArrivalsBytes(s, max_rows)));
  r.swiglu_arrivals.Zero(zeroing);
  r.shared_swiglu_arrivals =
      DeviceBuffer(static_cast<size_t>(SharedSwiGluArrivalsBytes(s, max_rows)));
  r.shared_swiglu_arrivals.Zero(zeroing);
  zeroing.Synchronize();
  r.groups = ExpertGroups::Create(GroupedSlots(s, max_rows));
  if (s.offload) {
    r.staged =
        PinnedHostBuffer(static_cast<size_t>((2 * s.k + s.dim + s.k * s.dim) * max_rows) * 4);
    r.host_rows = DeviceBuffer(static_cast<size_t>(s.k * s.dim * max_rows) * 4);
    r.host_index = DeviceBuffer(static_cast<size_t>(s.k * max_rows) * 4);
  }
  return r;
}

namespace {

// Whether a call's rows attend across sequences in one launch (AttentionRows' row_caches, which
// StageRows uploads): a batched decode step, every chunk one row of its own sequence.
bool AttendsAcrossSequences(bool single_rows, int64_t n_chunks) {
  return single_rows && n_chunks > 1;
}

// The rows of the chunks (each checked); `single_rows`: every chunk is one row. Throws
// std::out_of_range as ModelRows says.
int64_t CheckedRows(const DeviceModel& m, const DeviceRows& r, const RowChunk* chunks,
                    int64_t n_chunks, bool& single_rows) {
  int64_t rows = 0;
  single_rows = true;
  for (int64_t c = 0; c < n_chunks; ++c) {
    const RowChunk& ch = chunks[c];
    if (ch.seq == nullptr || ch.rows < 1) throw std::out_of_range("ModelRows: an empty chunk");
    if (ch.seq->layers.size() != m.layers.size()) {
      throw std::out_of_range("ModelRows: a sequence has " + std::to_string(ch.seq->layers.size()) +
                              " layers, the model " + std::to_string(m.layers.size()));
    }
    if (ch.seq->pos + ch.rows > m.context) {
      throw std::out_of_range("ModelRows: " + std::to_string(ch.rows) + " rows at position " +
                              std::to_string(ch.seq->pos) + " pass the context (" +
                              std::to_string(m.context) + " positions)");
    }
    for (int64_t d = 0; d < c; ++d) {
      if (chunks[d].seq == ch.seq) {
        throw std::out_of_range("ModelRows: chunks " + std::to_string(d) + " and " +
                                std::to_string(c) + " are of one sequence");
      }
    }
    rows += ch.rows;
    single_rows = single_rows && ch.rows == 1;
  }
  if (rows < 1 || rows > r.max_rows) {
    throw std::out_of_range("ModelRows: " + std::to_string(rows) + " rows, the scratch holds " +
                            std::to_string(r.max_rows));
  }
  return rows;
}

}  // namespace

void ModelRows(DeviceModel& m, DeviceRows& r, const RowChunk* chunks, int64_t n_chunks,
               const int32_t* tokens, RowLogits which, float* logits, CudaStream& stream) {
  StageRows(m, r, chunks, n_chunks, tokens, stream);
  ModelRowsStaged(m, r, chunks, n_chunks, which, logits, stream);
}

void StageRows(const DeviceModel& m, DeviceRows& r, const RowChunk* chunks, int64_t n_chunks,
               const int32_t* tokens, CudaStream& stream) {
  bool single_rows = true;
  const int64_t rows = CheckedRows(m, r, chunks, n_chunks, single_rows);
  // Each row's token and position (a pageable upload: the host copy has been read when it
  // returns).
  std::vector<int32_t> positions;
  positions.reserve(static_cast<size_t>(rows));
  for (int64_t c = 0; c < n_chunks; ++c) {
    for (int64_t i = 0; i < chunks[c].rows; ++i) {
      positions.push_back(static_cast<int32_t>(chunks[c].seq->pos + i));
    }
  }
  r.tokens.Upload(tokens, static_cast<size_t>(rows) * 4, stream);
  r.positions.Upload(positions.data(), static_cast<size_t>(rows) * 4, stream);
  if (AttendsAcrossSequences(single_rows, n_chunks)) {
    // A batched decode step: each layer's KV cache of every row's sequence ([layer, row]), for
    // the attention of all the rows at once (AttentionRows).
    std::vector<uint16_t*> caches;
    caches.reserve(m.layers.size() * static_cast<size_t>(rows));
    for (size_t i = 0; i < m.layers.size(); ++i) {
      for (int64_t c = 0; c < n_chunks; ++c) {
        caches.push_back(chunks[c].seq->layers[i].cache.as<uint16_t>());
      }
    }
    r.row_caches.Upload(caches.data(), caches.size() * sizeof(void*), stream);
    // And their compressors' states and entries ([layer, KV / indexer keys, row]), for the
    // compressors' and the indexer's launches for all the rows (AttentionRows).
    std::vector<CompressorRow> compressors;
    compressors.reserve(2 * caches.size());
    for (size_t i = 0; i < m.layers.size(); ++i) {
      const DeviceAttention& a = m.layers[i].attn;
      for (int64_t c = 0; c < n_chunks; ++c) {
        DeviceAttentionState& st = chunks[c].seq->layers[i];
        compressors.push_back(
            st.compressor
                ? CompressorRow{st.compressor->kv.as<float>(), st.compressor->score.as<float>(),
                                st.cache.as<uint16_t>() + a.shape.window * a.shape.head_dim}
                : CompressorRow{});
      }
      for (int64_t c = 0; c < n_chunks; ++c) {
        DeviceAttentionState& st = chunks[c].seq->layers[i];
        compressors.push_back(st.indexer ? CompressorRow{st.indexer->compressor.kv.as<float>(),
                                                         st.indexer->compressor.score.as<float>(),
                                                         st.indexer->keys.as<uint16_t>()}
                                         : CompressorRow{});
      }
    }
    r.row_compressors.Upload(compressors.data(), compressors.size() * sizeof(CompressorRow),
                             stream);
  }
}

void ModelRowsStaged(DeviceModel& m, DeviceRows& r, const RowChunk* chunks, int64_t n_chunks,
                     RowLogits which, float* logits, CudaStream& stream,
                     const DecodePieces* pieces) {
  bool single_rows = true;
  const int64_t rows = CheckedRows(m, r, chunks, n_chunks, single_rows);
  const int64_t layers = static_cast<int64_t>(m.layers.size());
  const int64_t per_piece = pieces != nullptr ? pieces->layers_per_piece : layers + 1;
  if (per_piece < 1) throw std::out_of_range("ModelRows: empty pieces");
  const int64_t n = m.hc.hc * m.hc.dim;
  float* h = r.h.as<float>();
  const int32_t* dev_tokens = r.tokens.as<int32_t>();
  // Layer i's chunks: each sequence's state of that layer, from its position before the call.
  std::vector<std::vector<AttentionChunk>> layer_chunks(m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    for (int64_t c = 0; c < n_chunks; ++c) {
      layer_chunks[i].push_back({&chunks[c].seq->layers[i], chunks[c].seq->pos, chunks[c].rows});
    }
  }
  const auto head = [&] {
    if (which == RowLogits::kNone) {
      // No head: a prompt's chunk whose logits nobody reads.
    } else if (which == RowLogits::kEveryRow || single_rows) {
      HeadRows(m.head, h, rows, r, logits, stream);
    } else {
      // Each chunk's last row, gathered for the head.
      float* last = r.last.as<float>();
      int64_t end = 0;
      for (int64_t c = 0; c < n_chunks; ++c) {
        end += chunks[c].rows;
        CopyDeviceToDevice(last + c * n, h + (end - 1) * n, static_cast<size_t>(n) * 4, stream);
      }
      HeadRows(m.head, last, n_chunks, r, logits, stream);
    }
  };
  const std::vector<PieceLayers> all = PiecesOf(layers, per_piece);
  for (size_t p = 0; p < all.size(); ++p) {
    const auto launches = [&] {
      if (p == 0) {
        MarkPhase(stream, "embed");
        EmbedRowsToStreams(m.embed, dev_tokens, rows, m.hc.hc, h, stream);
      }
      for (int64_t i = all[p].first; i < all[p].end; ++i) {
        const auto& lc = layer_chunks[static_cast<size_t>(i)];
        SequenceRows sequences;
        if (AttendsAcrossSequences(single_rows, n_chunks)) {
          sequences.caches = r.row_caches.as<uint16_t*>() + i * rows;
          sequences.kv = r.row_compressors.as<CompressorRow>() + 2 * i * rows;
          sequences.keys = sequences.kv + rows;
        }
        // Each block but the last leaves its MoE combine to the next one's first launch
        // (BlockRows' combine_from), as ModelDecode's do.
        BlockRows(m.layers[static_cast<size_t>(i)], lc.data(), n_chunks, h, rows, dev_tokens, r,
                  stream, sequences, i > 0 ? &m.layers[static_cast<size_t>(i - 1)] : nullptr,
                  i + 1 < layers);
      }
      if (p + 1 == all.size()) {
        head();
        MarkPhase(stream, "end");
      }
    };
    if (pieces != nullptr) {
      pieces->queue(static_cast<int64_t>(p), launches);
    } else {
      launches();
    }
  }
  for (int64_t c = 0; c < n_chunks; ++c) chunks[c].seq->pos += chunks[c].rows;
}

}  // namespace dsagent::engine::kernels::cuda
