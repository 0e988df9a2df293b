#include "engine/forward/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/forward/compressor.h"
#include "engine/forward/indexer.h"
#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::forward {
namespace {

// The call's buffers, in a workspace of the calling thread kept between calls: a decode step
// allocates nothing here once the thread has seen its sizes. Buffers over
// kernels::kWorkspaceKeepBytes (prefill) are freed at the end of the call.
enum Slot : int {
  kFirstRow,
  kPosOf,
  kQr,
  kQ,
  kKv,
  kKvBits,
  kCompressorKv,
  kCompressorScore,
  kIndexQ,
  kIndexWeights,
  kIndexKv,
  kIndexScore,
  kListBegin,
  kIndices,
  kO,
  kZ
};
kernels::Workspace& AttentionWorkspace() { return kernels::ThreadWorkspaceFor<Slot>(); }
// The indexer's selections of the chunk being attended, likewise kept per thread.
EntryLists& SelectedEntries() {
  thread_local EntryLists lists;
  return lists;
}

}  // namespace

void AttentionForward(const AttentionWeights& w, const ModelConfig& c, const Rope& rope,
                      int64_t start, const float* x, int64_t rows, LayerState& st, float* out,
                      const Compute& cx) {
  const LayerChunk chunk{&st, start, rows};
  AttentionForward(w, c, rope, std::span<const LayerChunk>(&chunk, 1), x, out, cx);
}

void AttentionForward(const AttentionWeights& w, const ModelConfig& c, const Rope& rope,
                      std::span<const LayerChunk> chunks, const float* x, float* out,
                      const Compute& cx) {
  const int64_t heads = c.n_heads, hd = c.head_dim, rd = c.rope_head_dim;
  const int64_t win = c.window_size, ratio = w.ratio;
  const float eps = static_cast<float>(c.norm_eps);
  kernels::Workspace& ws = AttentionWorkspace();
  // Row r of the call is at position pos_of[r]; chunk k's rows begin at row first_row[k].
  const int64_t n_chunks = static_cast<int64_t>(chunks.size());
  int64_t* first_row = ws.Get<int64_t>(kFirstRow, n_chunks + 1);
  first_row[0] = 0;
  for (int64_t k = 0; k < n_chunks; ++k) first_row[k + 1] = first_row[k] + chunks[k].rows;
  const int64_t rows = first_row[n_chunks];
  int64_t* pos_of = ws.Get<int64_t>(kPosOf, rows);
  for (int64_t k = 0; k < n_chunks; ++k) {
    for (int64_t t = 0; t < chunks[k].rows; ++t) pos_of[first_row[k] + t] = chunks[k].start + t;
  }
  const std::span<const int64_t> positions(pos_of, static_cast<size_t>(rows));

  // Query (row-wise: every chunk at once).
  float* qr = ws.Get<float>(kQr, rows * c.q_lora_rank);
  Linear(w.wq_a, x, rows, qr, InputQuant::kFp8Per128, Round::kBF16, cx);
  cx.ops.RmsNormBf16(kernels::F32Rows(qr, rows, c.q_lora_rank), w.q_norm.data(), eps,
                     kernels::F32Rows(qr, rows, c.q_lora_rank));
  float* q = ws.Get<float>(kQ, rows * heads * hd);
  Linear(w.wq_b, qr, rows, q, InputQuant::kFp8Per128, Round::kBF16, cx);
  cx.ops.HeadRmsNormBf16(kernels::F32Rows(q, rows * heads, hd), eps);
  cx.ops.RopeRotate(kernels::F32Rows(q, rows * heads, hd), rope.frequencies(), positions,
                    /*inverse=*/false);

  // Window KV of these rows.
  float* kv = ws.Get<float>(kKv, rows * hd);
  Linear(w.wkv, x, rows, kv, InputQuant::kFp8Per128, Round::kBF16, cx);
  cx.ops.RmsNormBf16(kernels::F32Rows(kv, rows, hd), w.kv_norm.data(), eps,
                     kernels::F32Rows(kv, rows, hd));
  cx.ops.RopeRotate(kernels::F32Rows(kv, rows, hd), rope.frequencies(), positions,
                    /*inverse=*/false);
  cx.ops.ActQuantFp8(kernels::F32Rows(kv, rows, hd - rd, hd), 64);  // the non-RoPE dims
  // These rows' KV as bf16 bits, like the cache rows (their values are bf16 already).
  uint16_t* kv_bits = ws.Get<uint16_t>(kKvBits, rows * hd);
  cx.ops.ToBf16Bits(kernels::F32Rows(kv, rows, hd), kernels::Bf16BitRows(kv_bits, rows, hd));

  // The compressors' and the indexer's projections (row-wise: every chunk at once, so each of
  // their weights is read once per call; each chunk's rows then feed its own state below).
  const int64_t compressor_width = w.compressor.wkv.rows;
  float* compressor_kv = nullptr;
  float* compressor_score = nullptr;
  if (w.has_compressor) {
    compressor_kv = ws.Get<float>(kCompressorKv, rows * compressor_width);
    compressor_score = ws.Get<float>(kCompressorScore, rows * compressor_width);
    CompressorProjections(w.compressor, x, rows, compressor_kv, compressor_score, cx);
  }
  const int64_t index_heads = c.index_n_heads, index_hd = c.index_head_dim;
  const int64_t index_width = w.indexer.compressor.wkv.rows;
  IndexerRows index_rows;
  if (w.has_indexer) {
    float* index_q = ws.Get<float>(kIndexQ, rows * index_heads * index_hd);
    float* index_weights = ws.Get<float>(kIndexWeights, rows * index_heads);
    float* index_kv = ws.Get<float>(kIndexKv, rows * index_width);
    float* index_score = ws.Get<float>(kIndexScore, rows * index_width);
    IndexerProjections(w.indexer, c, rope, x, qr, positions, index_q, index_weights, index_kv,
                       index_score, cx);
    index_rows = IndexerRows{index_q, index_weights, index_kv, index_score};
  }

  // Per chunk, on its own state: the compressed entries (the indexer scores before the chunk's
  // entries are appended to the main cache, as the reference; the two caches are independent),
  // then each row's list of KV rows to attend to, and the attention. The KV rows are numbered
  // across the window ring [win], the compressed entries [n_compressed] and the chunk's own new
  // rows [n], all read in place (kernels::KvRowSet): nothing here grows with the context beyond
  // the index lists themselves.
  float* o = ws.Get<float>(kO, rows * heads * hd);
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  const auto attend_chunk = [&](int64_t k) {
    kernels::Workspace& lists = AttentionWorkspace();  // the running thread's
    LayerState& st = *chunks[k].state;
    const int64_t start = chunks[k].start, n = chunks[k].rows, r0 = first_row[k];
    const bool prefill_layout = start == 0;
    EntryLists& selected = SelectedEntries();
    if (w.has_indexer) {
      IndexerArgs ia;
      ia.start = start;
      ia.rows = n;
      ia.prefill_layout = prefill_layout;
      ia.projected = IndexerRows{
          index_rows.q + r0 * index_heads * index_hd, index_rows.head_weights + r0 * index_heads,
          index_rows.kv + r0 * index_width, index_rows.score + r0 * index_width};
      SelectEntries(w.indexer, c, rope, ia, st, cx, selected);
    }
    if (w.has_compressor) {
      CompressProjected(w.compressor, rope, eps, start, compressor_kv + r0 * compressor_width,
                        compressor_score + r0 * compressor_width, n, st.kv_compressor,
                        st.compressed, cx);
    }
    const int64_t n_compressed = st.compressed_entries();
    const int32_t compressed_base = static_cast<int32_t>(win);
    const int32_t chunk_base = static_cast<int32_t>(win + n_compressed);
    // Each row lists at most the window and the indexer's top-k or every compressed slot.
    const int64_t compressed_slots =
        w.has_indexer ? c.index_topk : (ratio > 0 ? (start + n) / ratio : 0);
    int64_t* list_begin = lists.Get<int64_t>(kListBegin, n + 1);
    int32_t* indices = lists.Get<int32_t>(kIndices, n * (win + compressed_slots));
    int64_t listed = 0;
    list_begin[0] = 0;
    for (int64_t t = 0; t < n; ++t) {
      const int64_t pos = start + t;
      // Window: positions max(0, pos-win+1) .. pos ascending, -1 padded to the reference's width.
      const int64_t width = prefill_layout ? std::min(n, win) : win;
      const int64_t first = std::max<int64_t>(0, pos - win + 1);
      for (int64_t i = 0; i < width; ++i) {
        const int64_t p = first + i;
        if (p > pos) {
          indices[listed++] = -1;
        } else if (p >= start) {
          indices[listed++] = chunk_base + static_cast<int32_t>(p - start);
        } else {
          indices[listed++] = static_cast<int32_t>(p % win);
        }
      }
      if (w.has_indexer) {
        for (int32_t e : selected.row(t)) {
          indices[listed++] = e < 0 ? -1 : compressed_base + e;
        }
      } else if (ratio > 0) {
        const int64_t visible = (pos + 1) / ratio;
        const int64_t slots = prefill_layout ? (start + n) / ratio : visible;
        for (int64_t e = 0; e < slots; ++e) {
          indices[listed++] =
              e < visible && e < n_compressed ? compressed_base + static_cast<int32_t>(e) : -1;
        }
      }
      list_begin[t + 1] = listed;
    }

    // Attention of the chunk's rows (the backend splits the (row, head) pairs over its threads).
    kernels::SparseAttentionArgs sa;
    sa.q = kernels::F32Rows(q + r0 * heads * hd, n, heads * hd);
    sa.out = kernels::F32Rows(o + r0 * heads * hd, n, heads * hd);
    sa.heads = heads;
    sa.head_dim = hd;
    sa.scale = scale;
    sa.sinks = w.attn_sink.data();
    sa.kv.parts[0] = kernels::Bf16BitRows(st.window.data(), win, hd);
    sa.kv.parts[1] = kernels::Bf16BitRows(st.compressed.data(), n_compressed, hd);
    sa.kv.parts[2] = kernels::Bf16BitRows(kv_bits + r0 * hd, n, hd);
    sa.kv.count = 3;
    sa.indices = indices;
    sa.list_begin = list_begin;
    cx.ops.SparseAttention(sa);
  };
  // Decode steps of several sequences run one sequence per task (the ops a task calls then run
  // on its thread: ThreadPool), so their indexer scans, top-k sorts and attention go side by side
  // instead of one sequence after another with a pool dispatch per op; only when the sequences
  // fill every thread equally, since a sequence's work then stays on one thread (3 sequences on
  // 2 threads would leave one idle for a third of a long context's scan). Otherwise, and for
  // prefill chunks (whose rows the ops split over the threads), chunk after chunk, each op split
  // over the pool. Each chunk's arithmetic is the same either way.
  const int64_t threads = cx.pool.size();
  if (threads > 1 && n_chunks > 1 && rows == n_chunks && n_chunks % threads == 0) {
    cx.pool.ParallelFor(n_chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) attend_chunk(k);
    });
  } else {
    for (int64_t k = 0; k < n_chunks; ++k) attend_chunk(k);
  }
  cx.ops.RopeRotate(kernels::F32Rows(o, rows * heads, hd), rope.frequencies(), positions,
                    /*inverse=*/true);

  // Window ring of each chunk's state: the last window_size positions at slot p % window_size
  // (after the attention above, which read the old slots).
  for (size_t k = 0; k < chunks.size(); ++k) {
    LayerState& st = *chunks[k].state;
    cx.ops.WriteWindowRing(kernels::Bf16BitRows(kv_bits + first_row[k] * hd, chunks[k].rows, hd),
                           chunks[k].start, kernels::Bf16BitRows(st.window.data(), win, hd));
  }

  // Grouped low-rank output (row-wise): z_g = wo_a[g] . o_g (bf16 einsum), out = wo_b . z.
  const int64_t groups = c.o_groups, rank = c.o_lora_rank, group_in = heads * hd / groups;
  float* z = ws.Get<float>(kZ, rows * groups * rank);
  for (int64_t g = 0; g < groups; ++g) {
    LinearArgs la;
    la.x = o + g * group_in;
    la.rows = rows;
    la.x_stride = heads * hd;
    la.y = z + g * rank;
    la.y_stride = groups * rank;
    la.out_begin = g * rank;
    la.out_rows = rank;
    la.quant = InputQuant::kNone;
    la.round = Round::kBF16;
    Linear(w.wo_a, la, cx);
  }
  Linear(w.wo_b, z, rows, out, InputQuant::kFp8Per128, Round::kBF16, cx);
  ws.Trim(kernels::kWorkspaceKeepBytes);
  SelectedEntries().Trim(kernels::kWorkspaceKeepBytes);
}

}  // namespace dsagent::engine::forward
