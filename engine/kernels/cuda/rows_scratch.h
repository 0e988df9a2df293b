// The device scratch of a forward over many rows (model_rows.h ModelRows: a batched decode step
// of several sequences, or a prefill chunk of one): every row-wise buffer of the block, attention,
// MoE and head steps, sized once for `max_rows` rows and the model's widest layer
// (DeviceRows::Create in model_rows.cc), shared by every layer (they run one after another).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/kernels/cuda/compressor_ops.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/side_stream.h"

namespace dsagent::engine::kernels::cuda {

// One of a batched decode step's row chains (attention_step.cu SequencesStateSteps): the state
// steps of some of the step's sequences (each row's compressors and indexer selection, which the
// top-k writes into its index list), on a side stream of their own beside the other chains'. What
// those steps write that is not the sequence's own state goes here instead of the layer's
// scratch, so that the chains share nothing.
struct RowChain {
  std::unique_ptr<SideStream> side;
  DeviceBuffer index_scores;         // [the largest indexer capacity]: IndexerScores' output
  DeviceBuffer topk_scratch;         // TopKScratchBytes(the largest topk)
  DeviceBuffer kv_entry, key_entry;  // the attention's and the indexer's compressor entry
};
// The most row chains a step runs side by side (row t on chain t % kRowChains).
constexpr int64_t kRowChains = 8;

struct DeviceRows {
  int64_t max_rows = 0;
  DeviceBuffer tokens, positions;  // int32 [max_rows]: each row's token id and position
  DeviceBuffer h;                  // [max_rows, hc * dim] the rows' streams
  DeviceBuffer last;               // [max_rows, hc * dim] the rows whose logits are asked
  // The block: fn products [rows, mix], y / f [rows, dim], post [rows, hc], comb [rows, hc * hc].
  DeviceBuffer products, y, f, post, comb;
  // The attention: [rows, dim], [rows, q rank] x2, [rows, heads * head_dim] x2, [rows, head_dim],
  // [rows, o_groups * o_lora_rank].
  DeviceBuffer x_quant, qr, qr_quant, q, o, kv, z;
  // The compressors' exact projections of every row (CompressorProjections): the KV compressor's
  // [rows, 2 * width], the indexer's [rows, 2 * its width]; the indexer's queries and head
  // weights (IndexerQueryRows, IndexerHeadWeightsRows): q [rows, heads * head_dim], head weights
  // [rows, heads]. Empty where no layer has them.
  DeviceBuffer kv_projected, index_projected, index_q, index_hw;
  // The chunk-wide attention (attention_step.h AttentionRows, chunk_lists_math.h): the rows' KV
  // as bf16 [rows, head_dim], their index lists [rows, list_stride] and lengths [rows], the
  // indexer's selection of each row [rows, topk]; the split scratch of kAttentionRowsGroup rows
  // and the indexer's scores of kIndexerRowsGroup rows (IndexerRowsScratchFloats).
  DeviceBuffer kv_staged, lists, list_n, selected;
  int64_t list_stride = 0, topk = 0;
  // A batched decode step's attention across sequences: layer i's KV cache of row t's sequence
  // at [i * rows + t] (pointers, uploaded by StageRows with the tokens; room for max_rows rows),
  // and its compressors (CompressorRow: the KV compressor's at [(2 i) * rows + t], the indexer
  // keys' at [(2 i + 1) * rows + t]; attention_step.h SequenceRows); where their launches for all
  // the rows put each row's pooled entry together: [rows, the widest entry] each.
  DeviceBuffer row_caches, row_compressors;
  DeviceBuffer sequence_kv_entries, sequence_key_entries;
  DeviceBuffer attention_splits, index_scores;
  // min(max_rows, kRowChains) row chains when max_rows > 1 (a batched decode step's).
  std::vector<RowChain> row_chains;
  // AttentionRows' side streams beside the query's products: the KV rows' (wkv, its steps and
  // the KV compressor's projections) and the indexer's (its compressor's projections, head
  // weights and queries); and a batched decode step's query (wq_b and its steps), beside the
  // rows' state steps, and its lists with the indexer's head weights (which need only the
  // positions and x), beside all of them.
  std::unique_ptr<SideStream> kv_side, index_side, query_side, lists_side;
  // MoeRows' side stream: the shared expert beside the router and the routed experts.
  std::unique_ptr<SideStream> shared_side;
  // SparseAttentionRows' arrivals for kAttentionRowsGroup rows (its last splits' counts, the
  // look-back's ticket and maxima), the attention's wo_a's for its output's act_quant
  // (MatVecRowGroupsQuantized) and wq_a's for its output's norm (MatVecRmsNormQuant); zero
  // between calls.
  DeviceBuffer attention_arrivals, quantize_arrivals, norm_arrivals;
  // The compressors' chunk steps (compressor_ops.h CompressProjectedRows): the completed blocks'
  // gathered slots, entries and first positions, for the largest of the model's compressors.
  DeviceBuffer compress_kv, compress_score, compress_entries, compress_positions;
  int64_t compress_blocks = 0;
  // The MoE: gate logits [rows, experts], ids / weights [rows, k], the experts' inputs
  // [rows * k, dim] (where the paired products do not read each row's own: ExpertGemmPairTakes),
  // g / u [rows * k, inter] (g holds their SwiGLU's FP8 copy where w2's CTAs do not compute it),
  // routed [rows * k, dim], the shared expert's g / u [rows, inter] and output [rows, dim].
  DeviceBuffer logits, ids, weights, x_slots, g, u, routed, shared_g, shared_u, shared_out;
  // The counts of finished CTAs per row of the kernels with a last-CTA epilogue (last_cta.cuh):
  // GateAndRoute's (moe_ops.h) and HcFnPreNorm's (mixing_ops.h); zero between calls.
  DeviceBuffer route_arrivals, hc_arrivals;
  // The routed slots grouped by expert (ExpertGemmMatVec), for up to max_rows * k slots, and
  // the router's count of routed rows that groups them (GateAndRoute's RouteGrouping; one word,
  // zero between calls).
  ExpertGroups groups;
  DeviceBuffer group_arrivals;
  // The paired w1 and w3's counts for their SwiGLU (PairSwiGlu), the shared expert's
  // (MatVecRowsPair); zero between calls.
  DeviceBuffer swiglu_arrivals, shared_swiglu_arrivals;
  // The offload's host side: ids / weights [rows, k], xq [rows, dim], out [rows, k, dim]; the
  // host slots' rows and places in `routed` (MoeRows; kept to allocate once); on the device, the
  // host slots' output rows and places, uploaded packed and scattered into `routed`.
  PinnedHostBuffer staged;
  std::vector<int64_t> host_slot_rows, host_slot_at;
  DeviceBuffer host_rows, host_index;  // [rows * k, dim], int32 [rows * k]
  // The head: products [rows, hc], y [rows, dim].
  DeviceBuffer head_products, head_y;

  // The compressors' chunk scratch as CompressProjectedRows takes it.
  CompressRowsScratch CompressScratch() const {
    return {compress_kv.as<float>(), compress_score.as<float>(), compress_entries.as<float>(),
            compress_positions.as<int32_t>(), compress_blocks};
  }
};

}  // namespace dsagent::engine::kernels::cuda
