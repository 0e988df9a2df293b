// The one list of DeepSeek-V4 checkpoint tensors (../shared/reference/v4-architecture.md §4): name,
// logical shape, storage format, when a layer has it and what values a synthetic checkpoint puts
// in it, one row per tensor. Everything that needs the list reads it from here:
//   - tensor_inventory.h expands it for a config (ExpectedTensors: every stored tensor in file
//     order, parameter counts, `dsagent engine inspect`, the checkpoint's inventory check);
//   - forward/model_weights.cc checks a checkpoint against that expansion and binds the tensors
//     to the forward pass's structs by V4Tensor id;
//   - synthetic_checkpoint.cc writes exactly that expansion, filling each tensor by its V4Values.
// A new tensor is one row here (plus, where the forward pass reads it, one line binding its id).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/model/model_config.h"

namespace dsagent::engine {

// Which tensor a row is; model_weights binds struct fields by it. Block-scope ids occur once per
// decoder layer and MTP block, routed-expert ids once per expert of each.
// clang-format off
enum class V4Tensor : uint8_t {
  // model scope
  kEmbed, kHead, kNorm, kHcHeadFn, kHcHeadBase, kHcHeadScale,
  // block scope ("layers.<i>." and "mtp.<m>.")
  kWqA, kQNorm, kWqB, kWkv, kKvNorm, kWoA, kWoB, kAttnSink,
  kCompressorWkv, kCompressorWgate, kCompressorApe, kCompressorNorm,
  kIndexerWqB, kIndexerWeightsProj,
  kIndexerCompressorWkv, kIndexerCompressorWgate, kIndexerCompressorApe, kIndexerCompressorNorm,
  kAttnNorm, kFfnNorm,
  kHcAttnFn, kHcAttnBase, kHcAttnScale, kHcFfnFn, kHcFfnBase, kHcFfnScale,
  kGate, kGateTid2eid, kGateBias,
  kExpertW1, kExpertW3, kExpertW2,  // routed-expert scope ("ffn.experts.<e>.")
  kSharedW1, kSharedW3, kSharedW2,
  // MTP scope (after the block's tensors, "mtp.<m>.")
  kMtpEProj, kMtpHProj, kMtpEnorm, kMtpHnorm, kMtpNorm,
  kMtpHcHeadFn, kMtpHcHeadBase, kMtpHcHeadScale,
};
// clang-format on

// Where a row's tensor lives, and so its name prefix and how often it occurs.
enum class V4Scope : uint8_t {
  kModel,         // once: no prefix
  kBlock,         // per decoder layer ("layers.<i>.") and MTP block ("mtp.<m>.")
  kRoutedExpert,  // per routed expert of each block ("<block>ffn.experts.<e>.")
  kMtp,           // per MTP block, after its block tensors ("mtp.<m>.")
};

// How a row is stored. A quantised matrix [out, in] is two tensors, "<name>.weight" and
// "<name>.scale" (scale immediately after its weight in file order).
enum class V4Storage : uint8_t {
  kFp8,        // F8_E4M3 [out, in] + F8_E8M0 scale per 128x128 block [ceil(out/128), ceil(in/128)]
  kExpert,     // a routed expert's matrix: FP4 when config.expert_dtype is "fp4" (e2m1 packed two
               // per I8 [out, in/2] + F8_E8M0 scale per 32 inputs [out, in/32]), else kFp8
  kBf16,       // BF16 (a loader also accepts F32)
  kF32,        // F32 (a loader also accepts BF16)
  kExpertIds,  // I64 expert ids (a loader also accepts I32: the reference declares int32)
};

// Which blocks have a block-scope row (rows of other scopes: always).
enum class V4When : uint8_t {
  kAlways,
  kCompressed,   // compress ratio > 0 (CSA and HCA layers)
  kCsa,          // compress ratio 4 (with the lightning indexer)
  kHashRouted,   // a decoder layer below num_hash_layers: experts chosen by token id
  kScoreRouted,  // every other block: experts chosen by scores (+ bias)
};

// What a synthetic checkpoint fills the tensor with (synthetic_checkpoint.h states the values).
enum class V4Values : uint8_t {
  kMatrix,     // ~N(0, 1/in) (quantised formats: see synthetic_checkpoint.cc)
  kEmbedding,  // ~N(0, 1), the residual stream's scale
  kNormWeight,
  kAttnSink,
  kGateBias,
  kHcBase,
  kHcScale,
  kApe,
  kExpertIds,  // distinct random experts per token
};

// The dimensions row shapes are written in, for one block (or the model scope: ratio 0).
struct V4Dims {
  explicit V4Dims(const ModelConfig& c, int ratio = 0);
  int64_t dim, head_dim, q_lora, heads, heads_x_head_dim, o_rank, wo_a_in, inter, experts,
      activated, vocab, index_heads, index_head_dim, hc, hc_x_dim, hc_mix, ratio, overlap;
};

struct V4TensorSpec {
  V4Tensor id;
  V4Scope scope;
  // Relative to the scope's prefix; quantised storage adds ".weight" / ".scale".
  const char* name;
  V4Storage storage;
  V4When when;
  V4Values values;
  std::vector<int64_t> (*shape)(const V4Dims&);  // logical (FP4: [out, in], not as packed)
};

// Every row, in the order of a checkpoint's tensors: model scope, then per block the kBlock rows
// (the kRoutedExpert run repeated per expert where it stands), then per MTP block its block rows
// and the kMtp rows.
std::span<const V4TensorSpec> V4TensorTable();

// The row of `id`.
const V4TensorSpec& V4TensorRow(V4Tensor id);

// Whether block `block` (0..n_layers-1 decoder layers, then the MTP blocks) of `config` has a row
// with condition `when`.
bool V4BlockHas(const ModelConfig& config, int block, V4When when);

}  // namespace dsagent::engine
