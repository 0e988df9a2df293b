#include "engine/model/v4_tensor_table.h"

#include <array>
#include <cstdlib>

namespace dsagent::engine {

V4Dims::V4Dims(const ModelConfig& c, int block_ratio)
    : dim(c.dim),
      head_dim(c.head_dim),
      q_lora(c.q_lora_rank),
      heads(c.n_heads),
      heads_x_head_dim(c.n_heads * c.head_dim),
      o_rank(c.o_groups * c.o_lora_rank),
      wo_a_in(c.o_groups > 0 ? c.n_heads * c.head_dim / c.o_groups : 0),
      inter(c.moe_inter_dim),
      experts(c.n_routed_experts),
      activated(c.n_activated_experts),
      vocab(c.vocab_size),
      index_heads(c.index_n_heads),
      index_head_dim(c.index_head_dim),
      hc(c.hc_mult),
      hc_x_dim(c.hc_mult * c.dim),
      hc_mix((2 + c.hc_mult) * c.hc_mult),
      ratio(block_ratio),
      overlap(block_ratio == 4 ? 2 : 1) {}  // ratio 4 compresses overlapping windows

namespace {

using S = std::vector<int64_t>;
using D = V4Dims;
using enum V4Tensor;
constexpr V4Scope kModel = V4Scope::kModel, kBlock = V4Scope::kBlock,
                  kExpert = V4Scope::kRoutedExpert, kMtp = V4Scope::kMtp;
constexpr V4Storage kFp8 = V4Storage::kFp8, kExpertMatrix = V4Storage::kExpert,
                    kBf16 = V4Storage::kBf16, kF32 = V4Storage::kF32, kIds = V4Storage::kExpertIds;
constexpr V4When kAll = V4When::kAlways, kCompressed = V4When::kCompressed, kCsa = V4When::kCsa,
                 kHash = V4When::kHashRouted, kScore = V4When::kScoreRouted;
constexpr V4Values kMatrix = V4Values::kMatrix, kNormW = V4Values::kNormWeight;

// clang-format off
const std::array kTable = {
  // id                       scope    name                                     storage        when         values                  shape
  V4TensorSpec{kEmbed,        kModel,  "embed.weight",                          kBf16,         kAll,        V4Values::kEmbedding,   [](const D& x) { return S{x.vocab, x.dim}; }},
  V4TensorSpec{kHead,         kModel,  "head.weight",                           kBf16,         kAll,        kMatrix,                [](const D& x) { return S{x.vocab, x.dim}; }},
  V4TensorSpec{kNorm,         kModel,  "norm.weight",                           kBf16,         kAll,        kNormW,                 [](const D& x) { return S{x.dim}; }},
  V4TensorSpec{kHcHeadFn,     kModel,  "hc_head_fn",                            kF32,          kAll,        kMatrix,                [](const D& x) { return S{x.hc, x.hc_x_dim}; }},
  V4TensorSpec{kHcHeadBase,   kModel,  "hc_head_base",                          kF32,          kAll,        V4Values::kHcBase,      [](const D& x) { return S{x.hc}; }},
  V4TensorSpec{kHcHeadScale,  kModel,  "hc_head_scale",                         kF32,          kAll,        V4Values::kHcScale,     [](const D&) { return S{1}; }},

  // attention: low-rank query, single KV head, grouped low-rank output, sinks
  V4TensorSpec{kWqA,          kBlock,  "attn.wq_a",                             kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.q_lora, x.dim}; }},
  V4TensorSpec{kQNorm,        kBlock,  "attn.q_norm.weight",                    kBf16,         kAll,        kNormW,                 [](const D& x) { return S{x.q_lora}; }},
  V4TensorSpec{kWqB,          kBlock,  "attn.wq_b",                             kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.heads_x_head_dim, x.q_lora}; }},
  V4TensorSpec{kWkv,          kBlock,  "attn.wkv",                              kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.head_dim, x.dim}; }},
  V4TensorSpec{kKvNorm,       kBlock,  "attn.kv_norm.weight",                   kBf16,         kAll,        kNormW,                 [](const D& x) { return S{x.head_dim}; }},
  V4TensorSpec{kWoA,          kBlock,  "attn.wo_a",                             kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.o_rank, x.wo_a_in}; }},
  V4TensorSpec{kWoB,          kBlock,  "attn.wo_b",                             kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.dim, x.o_rank}; }},
  V4TensorSpec{kAttnSink,     kBlock,  "attn.attn_sink",                        kF32,          kAll,        V4Values::kAttnSink,    [](const D& x) { return S{x.heads}; }},
  // KV compressor (CSA and HCA layers): gated pooling of `ratio` tokens
  V4TensorSpec{kCompressorWkv,   kBlock, "attn.compressor.wkv.weight",          kBf16,         kCompressed, kMatrix,                [](const D& x) { return S{x.overlap * x.head_dim, x.dim}; }},
  V4TensorSpec{kCompressorWgate, kBlock, "attn.compressor.wgate.weight",        kBf16,         kCompressed, kMatrix,                [](const D& x) { return S{x.overlap * x.head_dim, x.dim}; }},
  V4TensorSpec{kCompressorApe,   kBlock, "attn.compressor.ape",                 kF32,          kCompressed, V4Values::kApe,         [](const D& x) { return S{x.ratio, x.overlap * x.head_dim}; }},
  V4TensorSpec{kCompressorNorm,  kBlock, "attn.compressor.norm.weight",         kBf16,         kCompressed, kNormW,                 [](const D& x) { return S{x.head_dim}; }},
  // lightning indexer (CSA layers): its queries and its own compressor for the index keys
  V4TensorSpec{kIndexerWqB,             kBlock, "attn.indexer.wq_b",                   kFp8,   kCsa,  kMatrix,                      [](const D& x) { return S{x.index_heads * x.index_head_dim, x.q_lora}; }},
  V4TensorSpec{kIndexerWeightsProj,     kBlock, "attn.indexer.weights_proj.weight",    kBf16,  kCsa,  kMatrix,                      [](const D& x) { return S{x.index_heads, x.dim}; }},
  V4TensorSpec{kIndexerCompressorWkv,   kBlock, "attn.indexer.compressor.wkv.weight",  kBf16,  kCsa,  kMatrix,                      [](const D& x) { return S{x.overlap * x.index_head_dim, x.dim}; }},
  V4TensorSpec{kIndexerCompressorWgate, kBlock, "attn.indexer.compressor.wgate.weight", kBf16, kCsa,  kMatrix,                      [](const D& x) { return S{x.overlap * x.index_head_dim, x.dim}; }},
  V4TensorSpec{kIndexerCompressorApe,   kBlock, "attn.indexer.compressor.ape",         kF32,   kCsa,  V4Values::kApe,               [](const D& x) { return S{x.ratio, x.overlap * x.index_head_dim}; }},
  V4TensorSpec{kIndexerCompressorNorm,  kBlock, "attn.indexer.compressor.norm.weight", kBf16,  kCsa,  kNormW,                       [](const D& x) { return S{x.index_head_dim}; }},
  // norms and the two hyper-connection mixes (mHC)
  V4TensorSpec{kAttnNorm,     kBlock,  "attn_norm.weight",                      kBf16,         kAll,        kNormW,                 [](const D& x) { return S{x.dim}; }},
  V4TensorSpec{kFfnNorm,      kBlock,  "ffn_norm.weight",                       kBf16,         kAll,        kNormW,                 [](const D& x) { return S{x.dim}; }},
  V4TensorSpec{kHcAttnFn,     kBlock,  "hc_attn_fn",                            kF32,          kAll,        kMatrix,                [](const D& x) { return S{x.hc_mix, x.hc_x_dim}; }},
  V4TensorSpec{kHcAttnBase,   kBlock,  "hc_attn_base",                          kF32,          kAll,        V4Values::kHcBase,      [](const D& x) { return S{x.hc_mix}; }},
  V4TensorSpec{kHcAttnScale,  kBlock,  "hc_attn_scale",                         kF32,          kAll,        V4Values::kHcScale,     [](const D&) { return S{3}; }},
  V4TensorSpec{kHcFfnFn,      kBlock,  "hc_ffn_fn",                             kF32,          kAll,        kMatrix,                [](const D& x) { return S{x.hc_mix, x.hc_x_dim}; }},
  V4TensorSpec{kHcFfnBase,    kBlock,  "hc_ffn_base",                           kF32,          kAll,        V4Values::kHcBase,      [](const D& x) { return S{x.hc_mix}; }},
  V4TensorSpec{kHcFfnScale,   kBlock,  "hc_ffn_scale",                          kF32,          kAll,        V4Values::kHcScale,     [](const D&) { return S{3}; }},
  // MoE: router (hash layers: a token-id table; the others: a selection bias), experts
  V4TensorSpec{kGate,         kBlock,  "ffn.gate.weight",                       kBf16,         kAll,        kMatrix,                [](const D& x) { return S{x.experts, x.dim}; }},
  V4TensorSpec{kGateTid2eid,  kBlock,  "ffn.gate.tid2eid",                      kIds,          kHash,       V4Values::kExpertIds,   [](const D& x) { return S{x.vocab, x.activated}; }},
  V4TensorSpec{kGateBias,     kBlock,  "ffn.gate.bias",                         kF32,          kScore,      V4Values::kGateBias,    [](const D& x) { return S{x.experts}; }},
  V4TensorSpec{kExpertW1,     kExpert, "w1",                                    kExpertMatrix, kAll,        kMatrix,                [](const D& x) { return S{x.inter, x.dim}; }},
  V4TensorSpec{kExpertW3,     kExpert, "w3",                                    kExpertMatrix, kAll,        kMatrix,                [](const D& x) { return S{x.inter, x.dim}; }},
  V4TensorSpec{kExpertW2,     kExpert, "w2",                                    kExpertMatrix, kAll,        kMatrix,                [](const D& x) { return S{x.dim, x.inter}; }},
  V4TensorSpec{kSharedW1,     kBlock,  "ffn.shared_experts.w1",                 kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.inter, x.dim}; }},
  V4TensorSpec{kSharedW3,     kBlock,  "ffn.shared_experts.w3",                 kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.inter, x.dim}; }},
  V4TensorSpec{kSharedW2,     kBlock,  "ffn.shared_experts.w2",                 kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.dim, x.inter}; }},

  // MTP block extras: the next token's embedding and the main model's streams projected in, a
  // head of its own (the output matrix is the model's `head`)
  V4TensorSpec{kMtpEProj,       kMtp,  "e_proj",                                kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.dim, x.dim}; }},
  V4TensorSpec{kMtpHProj,       kMtp,  "h_proj",                                kFp8,          kAll,        kMatrix,                [](const D& x) { return S{x.dim, x.dim}; }},
  V4TensorSpec{kMtpEnorm,       kMtp,  "enorm.weight",                          kBf16,         kAll,        kNormW,                 [](const D& x) { return S{x.dim}; }},
  V4TensorSpec{kMtpHnorm,       kMtp,  "hnorm.weight",                          kBf16,         kAll,        kNormW,                 [](const D& x) { return S{x.dim}; }},
  V4TensorSpec{kMtpNorm,        kMtp,  "norm.weight",                           kBf16,         kAll,        kNormW,                 [](const D& x) { return S{x.dim}; }},
  V4TensorSpec{kMtpHcHeadFn,    kMtp,  "hc_head_fn",                            kF32,          kAll,        kMatrix,                [](const D& x) { return S{x.hc, x.hc_x_dim}; }},
  V4TensorSpec{kMtpHcHeadBase,  kMtp,  "hc_head_base",                          kF32,          kAll,        V4Values::kHcBase,      [](const D& x) { return S{x.hc}; }},
  V4TensorSpec{kMtpHcHeadScale, kMtp,  "hc_head_scale",                         kF32,          kAll,        V4Values::kHcScale,     [](const D&) { return S{1}; }},
};
// clang-format on

}  // namespace

std::span<const V4TensorSpec> V4TensorTable() { return kTable; }

const V4TensorSpec& V4TensorRow(V4Tensor id) {
  for (const V4TensorSpec& row : kTable) {
    if (row.id == id) return row;
  }
  std::abort();  // every id has a row (v4_tensor_table_test checks it)
}

bool V4BlockHas(const ModelConfig& c, int block, V4When when) {
  const int ratio = c.compress_ratios[static_cast<size_t>(block)];
  switch (when) {
    case V4When::kAlways:
      return true;
    case V4When::kCompressed:
      return ratio > 0;
    case V4When::kCsa:
      return ratio == 4;
    case V4When::kHashRouted:
      return block < c.n_hash_layers;
    case V4When::kScoreRouted:
      return block >= c.n_hash_layers;
  }
  return false;
}

}  // namespace dsagent::engine
