// ModelConfig: a DeepSeek-V4 checkpoint's HF `config.json`, validated. Every field the forward
// pass needs (../shared/reference/v4-architecture.md §1) is required; a missing or unsupported
// field is an error naming it, never a silent default.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/expected.h"
#include "common/json.h"

namespace dsagent::engine {

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t dim = 0;        // hidden_size
  int n_layers = 0;       // num_hidden_layers
  int n_mtp_layers = 0;   // num_nextn_predict_layers
  int n_hash_layers = 0;  // num_hash_layers: first layers route experts by token id
  int n_heads = 0;        // num_attention_heads
  int64_t head_dim = 0;
  int64_t rope_head_dim = 0;  // qk_rope_head_dim: RoPE on the last dims of each head
  int64_t q_lora_rank = 0;
  int o_groups = 0;
  int64_t o_lora_rank = 0;
  int64_t window_size = 0;           // sliding_window
  std::vector<int> compress_ratios;  // n_layers + n_mtp_layers entries (0 = window only)
  int index_n_heads = 0;
  int64_t index_head_dim = 0;
  int64_t index_topk = 0;
  int n_routed_experts = 0;
  int n_shared_experts = 0;
  int n_activated_experts = 0;  // num_experts_per_tok
  int64_t moe_inter_dim = 0;    // moe_intermediate_size
  std::string score_func;       // "sqrtsoftplus" | "softmax" | "sigmoid"
  double route_scale = 1.0;     // routed_scaling_factor
  double swiglu_limit = 0;      // 0 = no clamp
  double norm_eps = 1e-6;
  int hc_mult = 0;
  int hc_sinkhorn_iters = 0;
  double hc_eps = 1e-6;
  double rope_theta = 0;
  double compress_rope_theta = 0;
  double rope_factor = 1;        // rope_scaling.factor (YaRN)
  int64_t original_seq_len = 0;  // rope_scaling.original_max_position_embeddings
  double beta_fast = 32, beta_slow = 1;
  int64_t max_position_embeddings = 0;
  int64_t bos_token_id = 0, eos_token_id = 1;
  std::string expert_dtype = "fp4";  // routed experts: "fp4" (int8-packed) or "fp8"

  // Total entries of compress_ratios: the decoder layers, then the MTP blocks.
  int n_blocks() const { return n_layers + n_mtp_layers; }
};

// Parses and validates. Error: "config.json: <field>: <problem>" for each problem found (all of
// them, one per line).
Expected<ModelConfig, std::string> ParseModelConfig(const Json& j, const std::string& source);
Expected<ModelConfig, std::string> LoadModelConfig(const std::filesystem::path& config_json);

}  // namespace dsagent::engine
