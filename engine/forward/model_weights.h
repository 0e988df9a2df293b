// ModelWeights: every tensor the forward pass reads, resolved from a Checkpoint by name and
// checked for dtype and shape against the config. Matrices stay in the mapped checkpoint
// (WeightMatrix views); only small vectors (norm weights, biases, sinks, hc base/scale, compressor
// position biases) are copied to float. Valid while the Checkpoint lives; read-only afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/weight_matrix.h"
#include "engine/model/checkpoint.h"

namespace dsagent::engine::forward {

// mHC mixing parameters of one sub-layer (or of a head): fn [mix, hc*dim], base [mix], scale.
struct HcWeights {
  WeightMatrix fn;
  std::vector<float> base, scale;
};

// Learned gated pooling of `ratio` tokens (ref. Compressor). Overlapping (ratio 4) compressors
// project to 2*head_dim: the first half pools with the previous block.
struct CompressorWeights {
  int ratio = 0;
  int64_t head_dim = 0;
  bool overlap = false;
  bool rotate = false;  // indexer keys: Hadamard + FP4 instead of FP8 on the non-RoPE dims
  WeightMatrix wkv, wgate;
  std::vector<float> ape;  // [ratio, coff*head_dim]
  std::vector<float> norm;
};

struct IndexerWeights {
  WeightMatrix wq_b, weights_proj;
  CompressorWeights compressor;
};

struct AttentionWeights {
  int ratio = 0;  // 0 window only, 4 CSA (with indexer), other: HCA
  WeightMatrix wq_a, wq_b, wkv, wo_a, wo_b;
  std::vector<float> q_norm, kv_norm, attn_sink;
  bool has_compressor = false, has_indexer = false;
  CompressorWeights compressor;
  IndexerWeights indexer;
};

struct ExpertWeights {
  WeightMatrix w1, w2, w3;
};

struct MoeWeights {
  bool hash = false;  // route by token id through tid2eid
  WeightMatrix gate;
  std::vector<float> bias;              // non-hash layers
  const TensorInfo* tid2eid = nullptr;  // hash layers: I64 or I32 [vocab, n_activated]
  std::vector<ExpertWeights> experts;
  ExpertWeights shared;
};

struct BlockWeights {
  AttentionWeights attn;
  MoeWeights ffn;
  std::vector<float> attn_norm, ffn_norm;
  HcWeights hc_attn, hc_ffn;
};

struct MtpWeights {
  BlockWeights block;
  WeightMatrix e_proj, h_proj;
  std::vector<float> enorm, hnorm, norm;
  HcWeights hc_head;
};

struct ModelWeights {
  WeightMatrix embed, head;
  std::vector<float> norm;
  HcWeights hc_head;
  std::vector<BlockWeights> layers;
  std::vector<MtpWeights> mtp;
};

// Resolves every tensor. Error: the first problem, naming the tensor and the file ("tensor
// 'layers.1.attn.wq_a.weight' is missing from /path" or "... in model.safetensors: expected
// F8_E4M3 [128,128], got BF16 [128,64]"), or an unsupported config (e.g. scoring function).
Expected<ModelWeights, std::string> LoadModelWeights(const Checkpoint& checkpoint,
                                                     const std::string& where);

}  // namespace dsagent::engine::forward
