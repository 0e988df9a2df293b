// DeviceAttention and AttentionDecode (attention_step.h): the CPU AttentionForward's steps for
// one token, as kernels queued on one stream, plus the two small kernels of its own (the KV row
// into the ring, the index list).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/attention_step.h"
#include "engine/kernels/cuda/chunk_lists_math.h"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/indexer_ops.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/phase_times.h"
#include "engine/kernels/cuda/vector_steps.h"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// The decode list of forward/attention.cc in cache rows: the window's positions first .. first +
// window - 1 (-1 past pos), then the compressed entries: the indexer's selection in its order, or
// every entry 0 .. n_compressed - 1.
__global__ void ListKernel(int32_t* list, int32_t* list_n, int64_t pos, int64_t window,
                           const int32_t* selected, int64_t n_compressed) {
  AwaitPreviousKernel();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i == 0 && list_n != nullptr) *list_n = static_cast<int32_t>(window + n_compressed);
  if (i < window) {
    const int64_t first = pos - window + 1 > 0 ? pos - window + 1 : 0;
    const int64_t p = first + i;
    list[i] = p > pos ? -1 : static_cast<int32_t>(p % window);
  } else if (i < window + n_compressed) {
    const int64_t j = i - window;
    list[i] = static_cast<int32_t>(window + (selected != nullptr ? selected[j] : j));
  }
}

// The chunk-wide attention's lists (chunk_lists_math.h), grid (list blocks, rows): row t of the
// chunk (position positions[t]) gets list[t * stride ..] and its length n[t]. selection_later:
// the compressed entries are the top-k's to write (a batched step's), only the window here.
__global__ void ChunkListKernel(int32_t* list, int32_t* n, int64_t stride, const int32_t* positions,
                                int64_t window, int64_t ratio, int64_t topk, int64_t chunk_pos,
                                int64_t s0, const int32_t* selected, bool selection_later) {
  AwaitPreviousKernel();
  const int64_t t = blockIdx.y;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t pos = positions[t];
  const int64_t n_compressed = CompressedInList(pos, ratio, topk);
  if (i == 0) n[t] = static_cast<int32_t>(window + n_compressed);
  if (i < window + (selection_later ? 0 : n_compressed)) {
    list[t * stride + i] =
        ChunkListEntry(i, pos, window, chunk_pos, s0,
                       selected != nullptr ? selected + t * topk : nullptr, n_compressed);
  }
}

// The ring rows the chunk leaves (RingRowsFromChunk): copy k of RingCopies, hd values each.
__global__ void RingFromChunkKernel(uint16_t* cache, const uint16_t* staged, int64_t chunk_pos,
                                    int64_t rows, int64_t window, int64_t s0, int64_t hd) {
  AwaitPreviousKernel();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= RingCopies(rows, window) * hd) return;
  int64_t ring_row = 0, staged_row = 0;
  RingRowsFromChunk(i / hd, chunk_pos, rows, window, s0, &ring_row, &staged_row);
  cache[ring_row * hd + i % hd] = staged[staged_row * hd + i % hd];
}

EnvSwitch per_row_attention("DSAGENT_CUDA_ROW_ATTENTION", "per-row");

DeviceBuffer Floats(const std::vector<float>& v, CudaStream& stream) {
  DeviceBuffer b(v.size() * sizeof(float));
  b.Upload(v.data(), b.bytes(), stream);
  stream.Synchronize();
  return b;
}

// The FP8-quantised copy of n values (the reference's act_quant before an FP8/FP4 product).
const float* Fp8Input(const float* x, int64_t n, DeviceBuffer& scratch, CudaStream& stream) {
  ActQuantTo(x, scratch.as<float>(), 1, n, 128, ActQuantFormat::kFp8, stream);
  return scratch.as<float>();
}

// Row pos's index list (window rows, then its compressed entries) into list; its length into
// *list_n when that is set. `selected`: the indexer's selection (null: a.selected).
void RowList(const DeviceAttention& a, int64_t pos, int64_t n_compressed, int32_t* list,
             int32_t* list_n, CudaStream& stream, const int32_t* selected = nullptr) {
  const int64_t n = a.shape.window + n_compressed;
  if (selected == nullptr) selected = a.selected.as<int32_t>();
  LaunchKernel(ListKernel, "ListKernel", Blocks(n), kThreads, 0, Raw(stream), list, list_n, pos,
               a.shape.window, a.indexer ? selected : nullptr, n_compressed);
  CheckCuda(cudaGetLastError(), "attention list launch");
}

// A batched decode step's `rows` lists into the scratch (row t its own sequence's, at
// positions[t]): ChunkListKernel's, with a chunk that starts past every row (each window row from
// its ring); with an indexer only the window and the length: the top-k writes the row's selection
// after the window (TopKSequences' or IndexerSelectQueried's entry offset), beside this launch.
void SequenceLists(const DeviceAttention& a, const int32_t* positions, int64_t rows,
                   DeviceRows& scratch, CudaStream& stream) {
  const AttentionShape& s = a.shape;
  const int64_t stride = scratch.list_stride;
  const dim3 grid(Blocks(stride), static_cast<unsigned>(rows));
  LaunchKernel(ChunkListKernel, "ChunkListKernel", grid, kThreads, 0, Raw(stream),
               scratch.lists.as<int32_t>(), scratch.list_n.as<int32_t>(), stride, positions,
               s.window, s.ratio, a.indexer ? a.indexer->shape.topk : 0,
               std::numeric_limits<int64_t>::max(), int64_t{0}, nullptr, a.indexer.has_value());
  CheckCuda(cudaGetLastError(), "attention batched lists launch");
}

}  // namespace

bool ChunkWideAttention() { return !per_row_attention.On(); }

void SetChunkWideAttention(bool on) { per_row_attention.Set(!on); }

DeviceAttention DeviceAttention::Create(const AttentionShape& s, const AttentionWeightRows& w,
                                        std::optional<DeviceCompressor> compressor,
                                        std::optional<DeviceIndexer> indexer, CudaStream& stream) {
  const auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("DeviceAttention: " + what);
  };
  need(s.dim > 0 && s.heads > 0 && s.head_dim > 0 && s.q_lora_rank > 0 && s.window > 0 &&
           s.o_groups > 0 && s.o_lora_rank > 0 && (s.heads * s.head_dim) % s.o_groups == 0,
       "sizes must be positive and the heads must split into the output groups");
  need(s.dim % 128 == 0 && s.q_lora_rank % 128 == 0 && (s.o_groups * s.o_lora_rank) % 128 == 0,
       "the FP8-quantised inputs must split into blocks of 128");
  need(compressor.has_value() == (s.ratio > 0), "a compressor exactly when ratio > 0");
  need(indexer.has_value() == (s.ratio == 4), "an indexer exactly when ratio is 4");
  need(s.ratio == 0 || s.capacity > 0, "a compressed layer needs capacity for entries");
  need(static_cast<int64_t>(w.attn_sink.size()) == s.heads, "attn_sink must have one per head");
  DeviceAttention a;
  a.shape = s;
  a.wq_a = DeviceWeight::Upload(w.wq_a, s.q_lora_rank, stream);
  a.wq_b = DeviceWeight::Upload(w.wq_b, s.heads * s.head_dim, stream);
  a.wkv = DeviceWeight::Upload(w.wkv, s.head_dim, stream);
  a.wo_a = DeviceWeight::Upload(w.wo_a, s.o_groups * s.o_lora_rank, stream);
  a.wo_b = DeviceWeight::Upload(w.wo_b, s.dim, stream);
  a.q_norm = Floats(w.q_norm, stream);
  a.kv_norm = Floats(w.kv_norm, stream);
  a.attn_sink = Floats(w.attn_sink, stream);
  a.freqs = Floats(w.freqs, stream);
  a.compressor = std::move(compressor);
  a.indexer = std::move(indexer);
  const int64_t compressed_rows = s.ratio > 0 ? s.capacity : 0;
  a.x_quant = DeviceFloats(s.dim);
  a.qr = DeviceFloats(s.q_lora_rank);
  a.qr_quant = DeviceFloats(s.q_lora_rank);
  a.q = DeviceFloats(s.heads * s.head_dim);
  a.kv = DeviceFloats(s.head_dim);
  a.o = DeviceFloats(s.heads * s.head_dim);
  a.z = DeviceFloats(s.o_groups * s.o_lora_rank);
  a.attention_splits = DeviceFloats(SparseAttentionScratchFloats(s.heads, s.head_dim));
  a.attention_arrivals = DeviceBuffer(static_cast<size_t>(SparseAttentionArrivalsBytes(s.heads)));
  a.attention_arrivals.Zero(stream);
  a.list = DeviceBuffer(static_cast<size_t>(s.window + compressed_rows) * sizeof(int32_t));
  a.selected =
      DeviceBuffer(static_cast<size_t>(a.indexer ? a.indexer->shape.topk : 1) * sizeof(int32_t));
  a.kv_side = std::make_unique<SideStream>();
  a.list_side = std::make_unique<SideStream>();
  if (a.compressor) a.compressor_side = std::make_unique<SideStream>();
  if (a.indexer) {
    a.index_keys_side = std::make_unique<SideStream>();
    a.indexer_side = std::make_unique<SideStream>();
  }
  return a;
}

DeviceAttentionState DeviceAttentionState::Create(const DeviceAttention& a, CudaStream& stream) {
  const AttentionShape& s = a.shape;
  const int64_t compressed_rows = s.ratio > 0 ? s.capacity : 0;
  DeviceAttentionState st;
  st.cache = DeviceBuffer(static_cast<size_t>((s.window + compressed_rows) * s.head_dim) *
                          sizeof(uint16_t));
  if (a.compressor) st.compressor = DeviceCompressorState::Create(a.compressor->shape, stream);
  if (a.indexer) st.indexer = DeviceIndexerState::Create(*a.indexer, stream);
  st.Reset(a, stream);
  stream.Synchronize();
  return st;
}

void DeviceAttentionState::Reset(const DeviceAttention& a, CudaStream& stream) {
  // Zeroed rows as the host's fresh LayerState, so that a snapshot before the window fills is the
  // host's bit for bit (the rows past pos are never read).
  cache.Zero(stream);
  if (compressor) compressor->Reset(a.compressor->shape, stream);
  if (indexer) indexer->Reset(*a.indexer, stream);
}

namespace {

// The KV rows' steps after wkv: kv_norm, RoPE (at pos, or at each row's position), FP8 per 64
// on the non-RoPE dims; into `out` as bf16 bits when it is set.
VectorSteps KvSteps(const DeviceAttention& a, int64_t pos, const int32_t* positions,
                    uint16_t* out) {
  const AttentionShape& s = a.shape;
  return CacheEntrySteps(s.head_dim, a.kv_norm.as<float>(), s.norm_eps, s.rope_dims,
                         a.freqs.as<float>(), pos, positions, /*rotate=*/false, out);
}

// The query heads' steps after wq_b: the per-head norm and RoPE (at pos, or at each row's
// position).
VectorSteps QuerySteps(const DeviceAttention& a, int64_t pos, const int32_t* positions) {
  const AttentionShape& s = a.shape;
  return AttentionQuerySteps(s.heads, s.norm_eps, s.rope_dims, a.freqs.as<float>(), pos, positions);
}

// Those steps as the attention's launch takes them (QueryPrep: each CTA on its copy of its head).
QueryPrep QueryPrepOf(const VectorSteps& steps) {
  return QueryPrep{steps.head_norm, steps.eps, steps.freqs,
                   steps.rope_dims, steps.pos, steps.positions};
}

// This token's KV: wkv, then its steps (KvSteps), into its ring row of `cache` (the row held
// position pos - window, which the window no longer shows).
void KvRow(DeviceAttention& a, const float* xq, int64_t pos, uint16_t* cache, CudaStream& stream) {
  const AttentionShape& s = a.shape;
  const int64_t hd = s.head_dim;
  float* kv = a.kv.as<float>();
  MatVec(a.wkv, xq, 1, s.dim, kv, hd, true, stream);
  RunVectorSteps(kv, 1, hd, KvSteps(a, pos, nullptr, cache + (pos % s.window) * hd), stream);
}

}  // namespace

float* AttentionFp8Input(DeviceAttention& a) { return a.x_quant.as<float>(); }

void AttentionDecode(DeviceAttention& a, DeviceAttentionState& state, const float* x, int64_t pos,
                     float* out, CudaStream& stream, bool x_fp8_written) {
  const AttentionShape& s = a.shape;
  const int64_t hd = s.head_dim, rank = s.q_lora_rank;
  if (s.ratio > 0 && (pos + 1) / s.ratio > s.capacity) {
    throw CudaError("AttentionDecode: position " + std::to_string(pos) + " needs " +
                    std::to_string((pos + 1) / s.ratio) + " compressed entries, the cache holds " +
                    std::to_string(s.capacity));
  }
  // Six chains, each on its own buffers: the query (the step's stream), this token's KV row, the
  // index list's window (pos only), the KV compressor (x only), the indexer's keys (x only), and
  // the indexer's head weights (x), query (qr) and selection into the index list (then the keys
  // too). With side streams on (side_stream.h) the last five are forked onto theirs where their
  // inputs are ready, the selection's twice (x, then qr or its normed FP8 copy), the keys joined
  // into the selection and all of them back before the attention; else all six run on the step's
  // stream in that same order. The same kernels either way: the same bits.
  const bool sides = SideStreamsOn() && a.kv_side != nullptr;
  const auto branch = [&](SideStream* side) -> CudaStream& {
    if (!sides) return stream;
    side->Fork(stream);
    return side->stream();
  };
  uint16_t* cache = state.cache.as<uint16_t>();
  const float* xq = x_fp8_written ? AttentionFp8Input(a) : Fp8Input(x, s.dim, a.x_quant, stream);
  if (a.compressor) {
    CompressToken(*a.compressor, *state.compressor, x, pos, cache + s.window * hd,
                  branch(a.compressor_side.get()));
  }
  // The index list: the window's rows and every compressed entry (they need only pos); with an
  // indexer the window's rows, its selection written after them by the top-k itself (below). On
  // a stream of its own: after the KV row, as it was until session 27, it made that chain three
  // kernels deep, the longest of a layer without an indexer (the query's is wq_a, wq_b).
  int32_t* list = a.list.as<int32_t>();
  int64_t n_compressed = a.compressor && !a.indexer ? (pos + 1) / s.ratio : 0;
  KvRow(a, xq, pos, cache, branch(a.kv_side.get()));
  RowList(a, pos, n_compressed, list, nullptr, branch(a.list_side.get()));
  if (a.indexer) {
    IndexerAppendKey(*a.indexer, *state.indexer, x, pos, branch(a.index_keys_side.get()));
    // The selection's branch starts with the head weights (x only); it waits for qr (or its
    // normed FP8 copy) below (a second fork of the same side stream).
    IndexerHeadWeights(*a.indexer, x, branch(a.indexer_side.get()));
  }
  // Query: wq_a, q_norm, wq_b, the per-head norm, RoPE.
  float* qr = a.qr.as<float>();
  float* q = a.q.as<float>();
  MatVec(a.wq_a, xq, 1, s.dim, qr, rank, true, stream);
  // q_norm and its FP8 copy, for both wq_b (the attention's and the indexer's): computed by each
  // of their CTAs as it stages qr where both weights take that (MatVecOnRmsNorm, one launch fewer
  // on the path; qr is only read), else once, by RmsNormQuant, before them. The same bits.
  const float* q_norm = a.q_norm.as<float>();
  const bool norm_staged =
      NormsAsItStages(a.wq_b) && (!a.indexer || NormsAsItStages(a.indexer->wq_b));
  float* qr_quant = a.qr_quant.as<float>();
  if (!norm_staged) RmsNormQuant(qr, 1, rank, q_norm, s.norm_eps, qr, qr_quant, stream);
  // Compressed entries: the indexer scores before this token's entry joins the main cache, as
  // the CPU does (the two caches are independent).
  if (a.indexer) {
    CudaStream& select = branch(a.indexer_side.get());
    if (norm_staged) {
      IndexerQueryOnRmsNorm(*a.indexer, qr, q_norm, s.norm_eps, pos, select);
    } else {
      IndexerQuery(*a.indexer, qr_quant, pos, select);
    }
    if (sides) a.index_keys_side->Join(select);
    n_compressed = IndexerSelectAppended(*a.indexer, *state.indexer, pos, list + s.window, select,
                                         static_cast<int32_t>(s.window));
  }
  if (norm_staged) {
    MatVecOnRmsNorm(a.wq_b, qr, q_norm, s.norm_eps, q, true, stream);
  } else {
    MatVec(a.wq_b, qr_quant, 1, rank, q, s.heads * hd, true, stream);
  }
  // The per-head norm and RoPE: in the attention's launches, each CTA on its own copy of its head
  // (QueryPrep), unless the fused steps are off. The same bits.
  const VectorSteps query_steps = QuerySteps(a, pos, nullptr);
  QueryPrep prep;
  if (FusedStepsOn()) {
    prep = QueryPrepOf(query_steps);
  } else {
    RunVectorSteps(q, s.heads, hd, query_steps, stream);
  }
  if (sides) {
    a.kv_side->Join(stream);
    a.list_side->Join(stream);
    if (a.compressor) a.compressor_side->Join(stream);
    if (a.indexer) {
      a.indexer_side->Join(stream);
      // The selection waited for the keys already; the keys are joined into the step's stream as
      // well, so that a capture sees every stream it forked joined back to its origin directly,
      // not only through another side stream joined later (the emulator refuses that).
      a.index_keys_side->Join(stream);
    }
  }
  const int64_t n = s.window + n_compressed;
  float* o = a.o.as<float>();
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  // Split over CTAs (flash-decoding): the `fast` contract rather than the CPU's bits (the exact
  // numerics keep one CTA per head), each head's splits combined by its last to finish. RoPE
  // undone on the output in the attention's last launch.
  SparseAttention(q, s.heads, hd, cache, list, n, a.attn_sink.as<float>(), scale, o, stream,
                  a.split_attention ? a.attention_splits.as<float>() : nullptr,
                  InverseRope{a.freqs.as<float>(), s.rope_dims, pos},
                  a.attention_arrivals.as<unsigned>(), prep);
  // Grouped low-rank output: z_g = (rows of group g of wo_a) . o_g (bf16), out = wo_b .
  // act_quant(z).
  const int64_t group_in = s.heads * hd / s.o_groups;
  float* z = a.z.as<float>();
  MatVecRowGroups(a.wo_a, s.o_groups, s.o_lora_rank, o, 1, group_in, group_in, z, s.o_lora_rank,
                  s.o_lora_rank, true, stream);
  // wo_b . act_quant(z), the act_quant in wo_b's launch (z is scratch, free after it).
  MatVecQuantizingInput(a.wo_b, z, out, true, stream);
}

namespace {

// AttentionRows' row-wise results that its state steps read (row t of each at t times its width),
// and the staged KV rows.
struct RowsState {
  const float* q;                // [rows, heads * head_dim]
  float* o;                      // [rows, heads * head_dim], written here
  const float* kv;               // [rows, head_dim]
  const float* kv_projected;     // the KV compressor's projections, [rows, 2 * width]
  const float* index_projected;  // the indexer compressor's, [rows, 2 * its width]
  const float* index_q;          // [rows, index heads * index head_dim]
  const float* index_hw;         // [rows, index heads]
  const int32_t* positions;      // [rows]
  uint16_t* staged;              // [rows, head_dim] bf16 bits (chunk-wide)
  float scale;                   // the softmax scale
  // RoPE undone on each row's output at its position by its attention's launch (freqs and
  // dims; RowsRope and RowRope add the rows' positions).
  InverseRope rope;
  // The query's steps (head norm, RoPE at each row's position) left to the attention's launch,
  // as the decode step leaves them (fused steps on; else head_norm unset: q is finished).
  // RowsQuery and RowQuery add the positions.
  QueryPrep query{};
};

// The inverse RoPE of r's rows from row t0 on (SparseAttentionRows), or of row t alone at `pos`
// (SparseAttention).
InverseRope RowsRope(const RowsState& r, int64_t t0) {
  InverseRope rope = r.rope;
  rope.positions = r.positions + t0;
  return rope;
}
InverseRope RowRope(const RowsState& r, int64_t pos) {
  InverseRope rope = r.rope;
  rope.pos = pos;
  return rope;
}
// The query's steps of r's rows from row t0 on (SparseAttentionRows), or of row t at `pos`
// (SparseAttention).
QueryPrep RowsQuery(const RowsState& r, int64_t t0) {
  QueryPrep query = r.query;
  if (query.head_norm) query.positions = r.positions + t0;
  return query;
}
QueryPrep RowQuery(const RowsState& r, int64_t pos) {
  QueryPrep query = r.query;
  query.pos = pos;
  return query;
}

// A batched decode step's row (SequencesStateSteps): its KV row is in its ring already (the KV
// rows' steps stored it), its list's window and length are written (SequenceLists), and
// what its steps write besides its sequence's state goes to its row chain's scratch (null: the
// layer's own, the rows in turn); the top-k writes its selection into `list` after the window.
struct BatchedRow {
  const RowChain* chain = nullptr;
  int32_t* list = nullptr;
};

// One row's state steps up to its index list, as AttentionDecode runs them: its KV row into the
// ring, the indexer's selection (into a.selected), the compressor; or a batched step's row's
// (`batched`). Returns how many compressed entries its list holds (the selection's, or every
// entry of a layer without an indexer).
int64_t RowSteps(DeviceAttention& a, DeviceAttentionState& state, int64_t pos, int64_t t,
                 const RowsState& r, CudaStream& stream, const BatchedRow* batched = nullptr) {
  const AttentionShape& s = a.shape;
  const int64_t hd = s.head_dim;
  uint16_t* cache = state.cache.as<uint16_t>();
  if (batched == nullptr) StoreBf16Bits(r.kv + t * hd, hd, cache + (pos % s.window) * hd, stream);
  const RowChain* chain = batched != nullptr ? batched->chain : nullptr;
  int64_t n_compressed = 0;
  if (a.indexer) {
    const DeviceIndexer& ix = *a.indexer;
    IndexerSelectScratch own;
    if (chain != nullptr) {
      own.scores = chain->index_scores.as<float>();
      own.topk = chain->topk_scratch.data();
      own.topk_bytes = static_cast<int64_t>(chain->topk_scratch.bytes());
      own.key_entry = chain->key_entry.as<float>();
    }
    n_compressed = IndexerSelectQueried(
        *a.indexer, *state.indexer, r.index_projected + t * 2 * ix.compressor.shape.width(),
        r.index_q + t * ix.shape.heads * ix.shape.head_dim, r.index_hw + t * ix.shape.heads, pos,
        batched != nullptr ? batched->list + s.window : a.selected.as<int32_t>(), stream,
        chain != nullptr ? &own : nullptr, batched != nullptr ? static_cast<int32_t>(s.window) : 0);
  }
  if (a.compressor) {
    CompressProjected(
        *a.compressor, *state.compressor, r.kv_projected + t * 2 * a.compressor->shape.width(), pos,
        cache + s.window * hd, stream, chain != nullptr ? chain->kv_entry.as<float>() : nullptr);
    if (!a.indexer) n_compressed = (pos + 1) / s.ratio;
  }
  return n_compressed;
}

// One chunk's state steps row by row, each row exactly as AttentionDecode runs it (its rows from
// row t0 of r).
void RowStateSteps(DeviceAttention& a, const AttentionChunk& chunk, int64_t t0, const RowsState& r,
                   CudaStream& stream) {
  const AttentionShape& s = a.shape;
  const int64_t hd = s.head_dim, qw = s.heads * hd;
  DeviceAttentionState& state = *chunk.state;
  for (int64_t i = 0; i < chunk.rows; ++i) {
    const int64_t t = t0 + i, pos = chunk.pos + i;
    const int64_t n_compressed = RowSteps(a, state, pos, t, r, stream);
    RowList(a, pos, n_compressed, a.list.as<int32_t>(), nullptr, stream);
    SparseAttention(r.q + t * qw, s.heads, hd, state.cache.as<uint16_t>(), a.list.as<int32_t>(),
                    s.window + n_compressed, a.attn_sink.as<float>(), r.scale, r.o + t * qw, stream,
                    a.split_attention ? a.attention_splits.as<float>() : nullptr, RowRope(r, pos),
                    a.attention_arrivals.as<unsigned>(), RowQuery(r, pos));
  }
}

// The row chain (DeviceRows::row_chains) each of a batched step's n rows (of n distinct
// sequences: AttentionRows checks) runs on: row t on chain t % chains; -1 for every row when
// there are no chains.
std::vector<int64_t> RowChainsOf(int64_t n, int64_t chains) {
  std::vector<int64_t> chain(static_cast<size_t>(n), -1);
  for (int64_t t = 0; chains > 0 && t < n; ++t) chain[static_cast<size_t>(t)] = t % chains;
  return chain;
}

// A batched decode step's state steps: one row from each of n sequences (chunk t is row t), their
// KV rows already in their rings and their lists' windows and lengths written (the KV rows'
// steps and SequenceLists: AttentionRows). Unless AttentionRows ran them already, a launch each
// for all the rows (`stepped`: SequencesStepsTake), each row's steps up to its list as
// AttentionDecode's, the indexer's selection into its list in the scratch — the rows' chains
// side by side on the row chains' streams (unless SideStreamsOn() is false), each with its own
// scratch, joined back before the attention; then the attention of every row at once,
// kAttentionRowsGroup a launch, each row over its own sequence's cache (sequences.caches: this
// layer's cache of each row's sequence, on the device). query_side (may be null): where the rows'
// queries are being made, joined before the attention too. The same bits as the rows one by one.
void SequencesStateSteps(DeviceAttention& a, const AttentionChunk* chunks, int64_t n,
                         const RowsState& r, DeviceRows& scratch, const SequenceRows& sequences,
                         bool stepped, CudaStream& stream, SideStream* query_side) {
  const AttentionShape& s = a.shape;
  const int64_t hd = s.head_dim, qw = s.heads * hd, stride = scratch.list_stride;
  const int64_t topk = a.indexer ? a.indexer->shape.topk : 0;
  int32_t* lists = scratch.lists.as<int32_t>();
  int32_t* list_n = scratch.list_n.as<int32_t>();
  // Each row's list length (the lists' launch and the row's steps count the same entries),
  // checked before anything is queued.
  std::vector<int64_t> lengths(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    const int64_t length = s.window + CompressedInList(chunks[t].pos, s.ratio, topk);
    if (length > stride) {
      throw CudaError("AttentionRows: a list of " + std::to_string(length) +
                      " entries, the scratch holds " + std::to_string(stride));
    }
    lengths[static_cast<size_t>(t)] = length;
  }
  // A layer with only the window has no steps left per row, nor has one AttentionRows stepped.
  const bool per_row = (a.indexer || a.compressor) && !stepped;
  const int64_t chains =
      SideStreamsOn() && per_row ? static_cast<int64_t>(scratch.row_chains.size()) : 0;
  const std::vector<int64_t> chain_of = RowChainsOf(n, chains);
  std::vector<bool> forked(static_cast<size_t>(chains), false);
  for (int64_t t = 0; per_row && t < n; ++t) {
    const int64_t c = chain_of[static_cast<size_t>(t)];
    RowChain* chain = c >= 0 ? &scratch.row_chains[static_cast<size_t>(c)] : nullptr;
    if (chain != nullptr && !forked[static_cast<size_t>(c)]) {
      chain->side->Fork(stream);
      forked[static_cast<size_t>(c)] = true;
    }
    CudaStream& on = chain != nullptr ? chain->side->stream() : stream;
    const BatchedRow row{chain, lists + t * stride};
    RowSteps(a, *chunks[t].state, chunks[t].pos, t, r, on, &row);
  }
  for (int64_t c = 0; c < chains; ++c) {
    if (forked[static_cast<size_t>(c)])
      scratch.row_chains[static_cast<size_t>(c)].side->Join(stream);
  }
  if (query_side != nullptr) query_side->Join(stream);
  for (int64_t g0 = 0; g0 < n; g0 += kAttentionRowsGroup) {
    const int64_t g = std::min<int64_t>(kAttentionRowsGroup, n - g0);
    int splits = 1;
    for (int64_t i = g0; i < g0 + g; ++i) {
      splits = std::max(splits, SparseAttentionRowSplits(lengths[static_cast<size_t>(i)], s.heads));
    }
    SparseAttentionRows(
        r.q + g0 * qw, g, s.heads, hd, nullptr, nullptr, lists + g0 * stride, stride, list_n + g0,
        splits, a.attn_sink.as<float>(), r.scale, r.o + g0 * qw, stream,
        a.split_attention ? scratch.attention_splits.as<float>() : nullptr, sequences.caches + g0,
        scratch.attention_arrivals.as<unsigned>(), RowsRope(r, g0), RowsQuery(r, g0));
  }
}

// One chunk's state steps chunk-wide (the rows' KV already staged, from staged row t0): the
// indexer's keys and the compressed entries of every block the chunk completes, each compressor
// in one go; every row's selection (its keys all appended now) and list; the attention of the
// chunk's rows kAttentionRowsGroup at a time; then the ring takes the chunk's last rows.
void ChunkStateSteps(DeviceAttention& a, const AttentionChunk& chunk, int64_t t0,
                     const RowsState& r, DeviceRows& scratch, CudaStream& stream) {
  const AttentionShape& s = a.shape;
  const int64_t hd = s.head_dim, qw = s.heads * hd;
  const int64_t rows = chunk.rows, chunk_pos = chunk.pos;
  const int64_t topk = a.indexer ? a.indexer->shape.topk : 0;
  DeviceAttentionState& state = *chunk.state;
  uint16_t* cache = state.cache.as<uint16_t>();
  const CompressRowsScratch compress = scratch.CompressScratch();
  if (a.indexer) {
    IndexerAppendKeys(*a.indexer, *state.indexer,
                      r.index_projected + t0 * 2 * a.indexer->compressor.shape.width(), chunk_pos,
                      rows, compress, stream);
  }
  if (a.compressor) {
    CompressProjectedRows(*a.compressor, *state.compressor,
                          r.kv_projected + t0 * 2 * a.compressor->shape.width(), chunk_pos, rows,
                          cache + s.window * hd, compress, stream);
  }
  int32_t* selected = scratch.selected.as<int32_t>() + t0 * topk;
  if (a.indexer) {
    const DeviceIndexer& ix = *a.indexer;
    IndexerSelectRows(*a.indexer, *state.indexer,
                      r.index_q + t0 * ix.shape.heads * ix.shape.head_dim,
                      r.index_hw + t0 * ix.shape.heads, chunk_pos, rows, selected,
                      scratch.index_scores.as<float>(), stream);
  }
  const int64_t stride = scratch.list_stride;
  const int64_t longest = s.window + CompressedInList(chunk_pos + rows - 1, s.ratio, topk);
  if (longest > stride) {
    throw CudaError("AttentionRows: a list of " + std::to_string(longest) +
                    " entries, the scratch holds " + std::to_string(stride));
  }
  int32_t* lists = scratch.lists.as<int32_t>() + t0 * stride;
  int32_t* list_n = scratch.list_n.as<int32_t>() + t0;
  const dim3 list_grid(Blocks(stride), static_cast<unsigned>(rows));
  LaunchKernel(ChunkListKernel, "ChunkListKernel", list_grid, kThreads, 0, Raw(stream), lists,
               list_n, stride, r.positions + t0, s.window, s.ratio, topk, chunk_pos, t0,
               a.indexer ? selected : nullptr, false);
  CheckCuda(cudaGetLastError(), "attention chunk lists launch");
  for (int64_t g0 = 0; g0 < rows; g0 += kAttentionRowsGroup) {
    const int64_t g = std::min<int64_t>(kAttentionRowsGroup, rows - g0);
    int splits = 1;
    for (int64_t i = g0; i < g0 + g; ++i) {
      const int64_t n = s.window + CompressedInList(chunk_pos + i, s.ratio, topk);
      splits = std::max(splits, SparseAttentionRowSplits(n, s.heads));
    }
    SparseAttentionRows(
        r.q + (t0 + g0) * qw, g, s.heads, hd, cache, r.staged, lists + g0 * stride, stride,
        list_n + g0, splits, a.attn_sink.as<float>(), r.scale, r.o + (t0 + g0) * qw, stream,
        a.split_attention ? scratch.attention_splits.as<float>() : nullptr, nullptr,
        scratch.attention_arrivals.as<unsigned>(), RowsRope(r, t0 + g0), RowsQuery(r, t0 + g0));
  }
  const int64_t copies = RingCopies(rows, s.window) * hd;
  LaunchKernel(RingFromChunkKernel, "RingFromChunkKernel", Blocks(copies), kThreads, 0, Raw(stream),
               cache, r.staged, chunk_pos, rows, s.window, t0, hd);
  CheckCuda(cudaGetLastError(), "attention ring rows launch");
}

// The keys the longest-visible row of a batched step sees ((pos + 1) / ratio at its position).
int64_t LongestVisible(const AttentionChunk* chunks, int64_t n, int64_t ratio) {
  int64_t longest = 0;
  for (int64_t t = 0; t < n; ++t) longest = std::max(longest, (chunks[t].pos + 1) / ratio);
  return longest;
}

// Whether a batched step's state steps go a launch each for all its rows, on the side streams
// that made their inputs (AttentionRows): each compressor's token step
// (CompressProjectedSequences), the indexer's selection (IndexerSelectSequences) — where the device
// arrays of the rows' sequences are there, the compressors' entry steps fit their launch, the
// top-k's rows are short enough for a CTA each (else the rows' chains, as before), and the scratch
// holds the entries and a group's scores. Throws CudaError when a row needs more indexer keys than
// its state holds.
bool SequencesStepsTake(const DeviceAttention& a, const AttentionChunk* chunks, int64_t n,
                        const SequenceRows& sequences, const DeviceRows& scratch) {
  const auto holds = [](const DeviceBuffer& b, int64_t floats) {
    return b.bytes() >= static_cast<size_t>(floats) * 4;
  };
  if (a.compressor && (sequences.kv == nullptr || !CompressProjectedSequencesTakes(*a.compressor) ||
                       !holds(scratch.sequence_kv_entries, n * a.compressor->shape.head_dim))) {
    return false;
  }
  if (!a.indexer) return true;
  const DeviceIndexer& ix = *a.indexer;
  const int64_t longest = LongestVisible(chunks, n, ix.shape.ratio);
  if (longest > ix.shape.capacity) {
    throw CudaError("AttentionRows: a row needs " + std::to_string(longest) +
                    " indexer keys, the device holds " + std::to_string(ix.shape.capacity));
  }
  return sequences.keys != nullptr && CompressProjectedSequencesTakes(ix.compressor) &&
         TopKSequencesTakes(IndexerSequencesScoresLength(ix.shape, longest)) &&
         holds(scratch.sequence_key_entries, n * ix.compressor.shape.head_dim) &&
         holds(scratch.index_scores, IndexerSequencesScoresFloats(ix.shape, n, longest));
}

// Throws CudaError, before anything is queued, when AttentionRows' rows do not fit: more rows
// than the scratch holds, a position past the compressed cache, or (`across`, a batched step)
// two rows of one sequence, whose KV rows go into their rings in one launch.
void CheckRowsFit(const AttentionShape& s, const AttentionChunk* chunks, int64_t n_chunks,
                  int64_t rows, const DeviceRows& scratch, bool across) {
  if (rows > scratch.max_rows) {
    throw CudaError("AttentionRows: " + std::to_string(rows) + " rows, the scratch holds " +
                    std::to_string(scratch.max_rows));
  }
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t last = chunks[c].pos + chunks[c].rows - 1;
    if (s.ratio > 0 && (last + 1) / s.ratio > s.capacity) {
      throw CudaError("AttentionRows: position " + std::to_string(last) + " needs " +
                      std::to_string((last + 1) / s.ratio) +
                      " compressed entries, the cache holds " + std::to_string(s.capacity));
    }
  }
  for (int64_t c = 0; across && c < n_chunks; ++c) {
    for (int64_t d = 0; d < c; ++d) {
      if (chunks[d].state == chunks[c].state) {
        throw CudaError("AttentionRows: rows " + std::to_string(d) + " and " + std::to_string(c) +
                        " of a batched step are of one sequence");
      }
    }
  }
}

// What kind of call AttentionRows has: a batched decode step (`across`: each chunk one row of its
// own sequence, over its own cache) or chunks of a prompt, and how its state steps go.
struct RowsCall {
  bool chunk_wide = false;  // ChunkWideAttention(): a chunk of several rows at once
  bool stage_kv = false;    // a chunk-wide prompt's KV rows staged as bf16 (chunk_lists_math.h)
  bool across = false;      // a batched decode step
  bool stepped = false;     // its state steps a launch each for all rows (SequencesStepsTake)
  // The query's steps (head norm, RoPE at each row's position) in the attention's launch, as the
  // decode step's (FusedStepsOn()), else right after wq_b.
  bool query_in_attention = false;
};

// Where AttentionRows' chains run, beside the query's chain on the step's stream (side streams,
// unless SideStreamsOn() is false or the scratch lacks them; each chain writes its own buffers),
// all joined before the state steps:
// - the KV side: the KV rows (wkv and their steps: xq only), then the KV compressor's projections
//   (x only) and a batched step's compressor token step — those two on the indexer's side instead
//   in a layer without an indexer (`compressor`);
// - the indexer's side: its compressor's projections (x only), a batched step's token step for
//   its keys, then (not a batched step's) its queries once qr_quant is there (a second fork);
// - a batched step's: its lists and the indexer's head weights on a side of their own (`lists`:
//   the positions and x only); its query (wq_b and its steps) on another (`query`), beside its
//   indexer's queries and selection on the step's stream, and joined only before the attention
//   (SequencesStateSteps: the state steps never read q). Elsewhere the head weights go on the
//   indexer's side, the lists on the KV side.
// Without side streams every chain runs on the step's stream, in this order.
struct RowsStreams {
  bool sides = false, compressor_beside = false, lists_beside = false, query_beside = false;
  CudaStream* kv = nullptr;
  CudaStream* index = nullptr;
  CudaStream* compressor = nullptr;
  CudaStream* lists = nullptr;
  CudaStream* query = nullptr;
};

RowsStreams PlanRowsStreams(const DeviceAttention& a, const DeviceRows& scratch, bool across,
                            CudaStream& stream) {
  RowsStreams streams;
  streams.sides = SideStreamsOn() && scratch.kv_side != nullptr && scratch.index_side != nullptr;
  streams.compressor_beside = streams.sides && a.compressor && !a.indexer;
  streams.lists_beside = streams.sides && across && scratch.lists_side != nullptr;
  streams.query_beside = streams.sides && across && scratch.query_side != nullptr;
  streams.kv = streams.sides ? &scratch.kv_side->stream() : &stream;
  streams.index = streams.sides ? &scratch.index_side->stream() : &stream;
  streams.compressor = streams.compressor_beside ? streams.index : streams.kv;
  streams.lists = streams.lists_beside ? &scratch.lists_side->stream() : streams.kv;
  streams.query = streams.query_beside ? &scratch.query_side->stream() : &stream;
  return streams;
}

// The chains beside the query (RowsStreams), forked from `stream` here: the KV rows with their
// steps (a chunk-wide prompt's also staged, a batched step's each into its sequence's ring), the
// KV compressor's projections, a batched step's lists, and the indexer's keys and head weights;
// a batched step's compressors' token steps when `call.stepped`.
void ForkRowsSideChains(DeviceAttention& a, const float* x, const float* xq, int64_t rows,
                        const RowsCall& call, const SequenceRows& sequences, DeviceRows& scratch,
                        const RowsStreams& streams, CudaStream& stream) {
  const AttentionShape& s = a.shape;
  const int32_t* positions = scratch.positions.as<int32_t>();
  float* kv = scratch.kv.as<float>();
  float* kv_projected = scratch.kv_projected.as<float>();
  float* index_projected = scratch.index_projected.as<float>();
  if (streams.sides) scratch.kv_side->Fork(stream);
  MatVec(a.wkv, xq, rows, s.dim, kv, s.head_dim, true, *streams.kv);
  // In the same launch, a chunk-wide prompt's KV rows also go to the staging area as bf16, and a
  // batched step's each into its sequence's ring (sequences.caches: this layer's, written here).
  VectorSteps kv_steps =
      KvSteps(a, 0, positions, call.stage_kv ? scratch.kv_staged.as<uint16_t>() : nullptr);
  if (call.across) {
    kv_steps.bf16_rows = sequences.caches;
    kv_steps.bf16_ring = s.window;
  }
  RunVectorSteps(kv, rows, s.head_dim, kv_steps, *streams.kv);
  if (streams.compressor_beside) scratch.index_side->Fork(stream);
  if (a.compressor) {
    CompressorProjections(*a.compressor, x, rows, s.dim, kv_projected, *streams.compressor);
  }
  if (streams.lists_beside) scratch.lists_side->Fork(stream);
  if (call.across) SequenceLists(a, positions, rows, scratch, *streams.lists);
  if (call.stepped && a.compressor) {
    CompressProjectedSequences(*a.compressor, sequences.kv, positions, kv_projected,
                               2 * a.compressor->shape.width(), rows,
                               scratch.sequence_kv_entries.as<float>(), *streams.compressor);
  }
  if (a.indexer) {
    if (streams.sides) scratch.index_side->Fork(stream);
    DeviceCompressor& keys = a.indexer->compressor;
    CompressorProjections(keys, x, rows, s.dim, index_projected, *streams.index);
    if (call.stepped) {
      CompressProjectedSequences(keys, sequences.keys, positions, index_projected,
                                 2 * keys.shape.width(), rows,
                                 scratch.sequence_key_entries.as<float>(), *streams.index);
    }
    IndexerHeadWeightsRows(*a.indexer, x, s.dim, rows, scratch.index_hw.as<float>(),
                           streams.lists_beside ? *streams.lists : *streams.index);
  }
}

// The query's chain on `stream`: wq_a with q_norm and qr's act_quant (its last CTA of each input
// tile), the indexer's queries on its side after a second fork (not a batched step's with its
// state steps stepped: those follow on this stream, SelectSequencesRows), then wq_b (a batched
// step's on its own side) and, unless call.query_in_attention, the query's steps.
void RowsQueryChain(DeviceAttention& a, const float* xq, int64_t rows, const RowsCall& call,
                    DeviceRows& scratch, const RowsStreams& streams, CudaStream& stream) {
  const AttentionShape& s = a.shape;
  const int32_t* positions = scratch.positions.as<int32_t>();
  float* qr_quant = scratch.qr_quant.as<float>();
  MatVecRmsNormQuant(a.wq_a, xq, rows, s.dim, scratch.qr.as<float>(), true, a.q_norm.as<float>(),
                     s.norm_eps, qr_quant, scratch.norm_arrivals.as<unsigned>(), stream);
  if (a.indexer && !call.stepped) {
    if (streams.sides) scratch.index_side->Fork(stream);
    IndexerQueryRows(*a.indexer, qr_quant, rows, positions, scratch.index_q.as<float>(),
                     *streams.index);
  }
  if (streams.query_beside) scratch.query_side->Fork(stream);
  float* q = scratch.q.as<float>();
  MatVec(a.wq_b, qr_quant, rows, s.q_lora_rank, q, s.heads * s.head_dim, true, *streams.query);
  if (!call.query_in_attention) {
    RunVectorSteps(q, rows * s.heads, s.head_dim, QuerySteps(a, 0, positions), *streams.query);
  }
}

// A batched step's indexer selection for all its rows, on `stream` (the query already forked
// beside): its queries' product (their steps run in the scores' launch), then, once the keys and
// the head weights are joined, IndexerSelectSequences into each row's list after its window.
void SelectSequencesRows(DeviceAttention& a, const AttentionChunk* chunks, int64_t n_chunks,
                         int64_t rows, const SequenceRows& sequences, DeviceRows& scratch,
                         const RowsStreams& streams, CudaStream& stream) {
  const AttentionShape& s = a.shape;
  float* index_q = scratch.index_q.as<float>();
  IndexerQueryProductRows(*a.indexer, scratch.qr_quant.as<float>(), rows, index_q, stream);
  if (streams.lists_beside) scratch.lists_side->Join(stream);  // the head weights
  if (streams.sides) scratch.index_side->Join(stream);         // the keys
  IndexerSelectSequences(*a.indexer, sequences.keys, index_q, scratch.index_hw.as<float>(),
                         scratch.positions.as<int32_t>(), rows,
                         LongestVisible(chunks, n_chunks, a.indexer->shape.ratio),
                         scratch.index_scores.as<float>(), scratch.lists.as<int32_t>() + s.window,
                         scratch.list_stride, static_cast<int32_t>(s.window), stream);
}

}  // namespace

void AttentionRows(DeviceAttention& a, const AttentionChunk* chunks, int64_t n_chunks,
                   const float* x, int64_t rows, DeviceRows& scratch, float* out,
                   CudaStream& stream, const SequenceRows& sequences, bool x_fp8_written) {
  const AttentionShape& s = a.shape;
  const int64_t hd = s.head_dim, qw = s.heads * hd;
  RowsCall call;
  call.chunk_wide = ChunkWideAttention();
  const bool single_rows = rows == n_chunks;
  call.stage_kv = call.chunk_wide && !single_rows;
  call.across = call.chunk_wide && single_rows && n_chunks > 1 && sequences.caches != nullptr;
  call.query_in_attention = FusedStepsOn();
  CheckRowsFit(s, chunks, n_chunks, rows, scratch, call.across);
  // A batched step's state steps, a launch each for all its rows, right after their inputs on
  // the KV and indexer sides (beside the query), where they can: SequencesStepsTake.
  call.stepped = call.across && (a.compressor || a.indexer) &&
                 SequencesStepsTake(a, chunks, n_chunks, sequences, scratch);
  MarkPhase(stream, "attention.rows");
  // The FP8-quantised input, then every row's row-wise steps: the query (wq_a, q_norm, wq_b, head
  // norm, RoPE), the KV (wkv, kv_norm, RoPE, FP8 per 64 on the non-RoPE dims), and what the state
  // steps below need: the compressors' exact projections and the indexer's queries and head
  // weights (IndexerSelect's and CompressToken's first steps, over all rows at once; each row's
  // bits as alone).
  float* xq = scratch.x_quant.as<float>();
  if (!x_fp8_written) ActQuantTo(x, xq, rows, s.dim, 128, ActQuantFormat::kFp8, stream);
  const RowsStreams streams = PlanRowsStreams(a, scratch, call.across, stream);
  ForkRowsSideChains(a, x, xq, rows, call, sequences, scratch, streams, stream);
  RowsQueryChain(a, xq, rows, call, scratch, streams, stream);
  if (a.indexer && call.stepped) {
    SelectSequencesRows(a, chunks, n_chunks, rows, sequences, scratch, streams, stream);
  }
  if (streams.sides) {
    scratch.kv_side->Join(stream);
    if (a.indexer || streams.compressor_beside) scratch.index_side->Join(stream);
    if (streams.lists_beside) scratch.lists_side->Join(stream);
  }
  // The state steps, chunk by chunk: row by row in order (each row's KV joins the ring, and its
  // compressed entry the cache, before the next row attends, as token-by-token decode does), or
  // chunk-wide with the rows' KV staged aside first (chunk_lists_math.h).
  MarkPhase(stream, s.ratio == 4  ? "attention.state (CSA)"
                    : s.ratio > 0 ? "attention.state (HCA)"
                                  : "attention.state (window)");
  RowsState r{scratch.q.as<float>(),
              scratch.o.as<float>(),
              scratch.kv.as<float>(),
              scratch.kv_projected.as<float>(),
              scratch.index_projected.as<float>(),
              scratch.index_q.as<float>(),
              scratch.index_hw.as<float>(),
              scratch.positions.as<int32_t>(),
              scratch.kv_staged.as<uint16_t>(),
              static_cast<float>(std::pow(static_cast<double>(hd), -0.5)),
              InverseRope{a.freqs.as<float>(), s.rope_dims, 0, nullptr}};
  if (call.query_in_attention) r.query = QueryPrepOf(QuerySteps(a, 0, nullptr));
  if (call.across) {
    SequencesStateSteps(a, chunks, n_chunks, r, scratch, sequences, call.stepped, stream,
                        streams.query_beside ? scratch.query_side.get() : nullptr);
  } else {
    int64_t t0 = 0;
    for (int64_t c = 0; c < n_chunks; ++c) {
      if (call.chunk_wide && chunks[c].rows > 1) {
        ChunkStateSteps(a, chunks[c], t0, r, scratch, stream);
      } else {
        RowStateSteps(a, chunks[c], t0, r, stream);
      }
      t0 += chunks[c].rows;
    }
  }
  MarkPhase(stream, "attention.output");
  // The grouped low-rank output over all rows: group g of every row at once, then z's act_quant
  // for wo_b by wo_a's CTAs where they can (MatVecRowGroupsQuantized).
  const int64_t group_in = qw / s.o_groups, z_n = s.o_groups * s.o_lora_rank;
  float* z = scratch.z.as<float>();
  MatVecRowGroupsQuantized(a.wo_a, s.o_groups, s.o_lora_rank, r.o, rows, qw, group_in, z, true,
                           scratch.quantize_arrivals.as<unsigned>(), stream);
  MatVec(a.wo_b, z, rows, z_n, out, s.dim, true, stream);
}

}  // namespace dsagent::engine::kernels::cuda
