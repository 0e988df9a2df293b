#include "engine/model/model_config.h"

#include "common/file_io.h"

namespace dsagent::engine {
namespace {

// Collects every problem instead of stopping at the first, so a user fixes a config in one go.
class Reader {
 public:
  Reader(const Json& j, std::string source) : j_(j), source_(std::move(source)) {}

  template <class T>
  void Require(const char* key, T* out) {
    if (!j_.contains(key)) {
      Problem(key, "missing");
      return;
    }
    Get(key, j_[key], out);
  }
  template <class T>
  void Optional(const char* key, T* out) {
    if (j_.contains(key) && !j_[key].is_null()) Get(key, j_[key], out);
  }
  void Problem(const std::string& key, const std::string& what) {
    errors_ += (errors_.empty() ? "" : "\n") + source_ + ": " + key + ": " + what;
  }
  const Json& json() const { return j_; }
  const std::string& errors() const { return errors_; }

 private:
  void Get(const char* key, const Json& v, int* out) {
    if (!v.is_number_integer()) return Problem(key, "must be an integer");
    *out = v.get<int>();
  }
  void Get(const char* key, const Json& v, int64_t* out) {
    if (!v.is_number_integer()) return Problem(key, "must be an integer");
    *out = v.get<int64_t>();
  }
  void Get(const char* key, const Json& v, double* out) {
    if (!v.is_number()) return Problem(key, "must be a number");
    *out = v.get<double>();
  }
  void Get(const char* key, const Json& v, std::string* out) {
    if (!v.is_string()) return Problem(key, "must be a string");
    *out = v.get<std::string>();
  }

  const Json& j_;
  std::string source_;
  std::string errors_;
};

}  // namespace

Expected<ModelConfig, std::string> ParseModelConfig(const Json& j, const std::string& source) {
  if (!j.is_object()) return MakeUnexpected(source + ": not a JSON object");
  ModelConfig c;
  Reader r(j, source);
  r.Require("vocab_size", &c.vocab_size);
  r.Require("hidden_size", &c.dim);
  r.Require("num_hidden_layers", &c.n_layers);
  r.Optional("num_nextn_predict_layers", &c.n_mtp_layers);
  r.Optional("num_hash_layers", &c.n_hash_layers);
  r.Require("num_attention_heads", &c.n_heads);
  r.Require("head_dim", &c.head_dim);
  r.Require("qk_rope_head_dim", &c.rope_head_dim);
  r.Require("q_lora_rank", &c.q_lora_rank);
  r.Require("o_groups", &c.o_groups);
  r.Require("o_lora_rank", &c.o_lora_rank);
  r.Require("sliding_window", &c.window_size);
  r.Require("index_n_heads", &c.index_n_heads);
  r.Require("index_head_dim", &c.index_head_dim);
  r.Require("index_topk", &c.index_topk);
  r.Require("n_routed_experts", &c.n_routed_experts);
  r.Require("n_shared_experts", &c.n_shared_experts);
  r.Require("num_experts_per_tok", &c.n_activated_experts);
  r.Require("moe_intermediate_size", &c.moe_inter_dim);
  r.Require("scoring_func", &c.score_func);
  r.Require("routed_scaling_factor", &c.route_scale);
  r.Optional("swiglu_limit", &c.swiglu_limit);
  r.Require("rms_norm_eps", &c.norm_eps);
  r.Require("hc_mult", &c.hc_mult);
  r.Require("hc_sinkhorn_iters", &c.hc_sinkhorn_iters);
  r.Require("hc_eps", &c.hc_eps);
  r.Require("rope_theta", &c.rope_theta);
  r.Require("compress_rope_theta", &c.compress_rope_theta);
  r.Require("max_position_embeddings", &c.max_position_embeddings);
  r.Optional("bos_token_id", &c.bos_token_id);
  r.Optional("eos_token_id", &c.eos_token_id);
  r.Optional("expert_dtype", &c.expert_dtype);

  if (j.contains("model_type") && j["model_type"] != "deepseek_v4") {
    r.Problem("model_type", "'" + j["model_type"].dump() + "' is not supported (deepseek_v4)");
  }
  if (!j.contains("compress_ratios") || !j["compress_ratios"].is_array()) {
    r.Problem("compress_ratios", "missing (a list with one ratio per layer and MTP block)");
  } else {
    for (const auto& v : j["compress_ratios"]) {
      if (!v.is_number_integer() || v.get<int>() < 0) {
        r.Problem("compress_ratios", "entries must be non-negative integers");
        break;
      }
      c.compress_ratios.push_back(v.get<int>());
    }
  }
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    // Each field checked for its type before it is read: a value of another type must be a
    // named problem, not an exception or (a huge float read as an integer) undefined behaviour.
    const Json& rs = j["rope_scaling"];
    const auto number = [&](const char* key, double fallback) {
      if (!rs.contains(key)) return fallback;
      if (!rs[key].is_number()) {
        r.Problem(std::string("rope_scaling.") + key, "must be a number");
        return fallback;
      }
      return rs[key].get<double>();
    };
    if (rs.contains("type") && rs["type"] != "yarn") {
      r.Problem("rope_scaling.type", "only yarn is supported");
    }
    c.rope_factor = number("factor", 1.0);
    if (rs.contains("original_max_position_embeddings")) {
      const Json& v = rs["original_max_position_embeddings"];
      if (v.is_number_integer()) {
        c.original_seq_len = v.get<int64_t>();
      } else {
        r.Problem("rope_scaling.original_max_position_embeddings", "must be an integer");
      }
    }
    c.beta_fast = number("beta_fast", 32.0);
    c.beta_slow = number("beta_slow", 1.0);
  }
  if (j.contains("quantization_config")) {
    const Json& q = j["quantization_config"];
    if (!q.is_object()) {
      r.Problem("quantization_config", "must be an object");
    } else {
      const auto field = [&](const char* key, const char* fallback) {
        return q.contains(key) ? q[key] : Json(fallback);
      };
      if (field("quant_method", "fp8") != "fp8" || field("fmt", "e4m3") != "e4m3") {
        r.Problem("quantization_config", "only fp8 e4m3 weights are supported");
      }
      if (q.contains("weight_block_size") && q["weight_block_size"] != Json::array({128, 128})) {
        r.Problem("quantization_config.weight_block_size", "only [128, 128] is supported");
      }
    }
  }
  if (!r.errors().empty()) return MakeUnexpected(r.errors());

  // Consistency checks that the forward pass relies on.
  if (static_cast<int>(c.compress_ratios.size()) != c.n_blocks()) {
    r.Problem("compress_ratios", "has " + std::to_string(c.compress_ratios.size()) +
                                     " entries; expected num_hidden_layers + "
                                     "num_nextn_predict_layers = " +
                                     std::to_string(c.n_blocks()));
  }
  for (int ratio : c.compress_ratios) {
    if (ratio != 0 && ratio != 4 && ratio < 8) {
      r.Problem("compress_ratios", "ratio " + std::to_string(ratio) +
                                       " unsupported (0, 4 = overlapping CSA, or >= 8 = HCA)");
      break;
    }
  }
  if (c.n_heads <= 0 || c.o_groups <= 0 || c.n_heads % c.o_groups != 0) {
    r.Problem("o_groups", "must divide num_attention_heads");
  }
  if (c.rope_head_dim <= 0 || c.rope_head_dim > c.head_dim || c.rope_head_dim % 2 != 0) {
    r.Problem("qk_rope_head_dim", "must be even and at most head_dim");
  }
  if (c.n_activated_experts <= 0 || c.n_activated_experts > c.n_routed_experts) {
    r.Problem("num_experts_per_tok", "must be between 1 and n_routed_experts");
  }
  if (c.n_shared_experts != 1) r.Problem("n_shared_experts", "the reference supports exactly 1");
  if (c.score_func != "sqrtsoftplus" && c.score_func != "softmax" && c.score_func != "sigmoid") {
    r.Problem("scoring_func", "'" + c.score_func + "' unsupported");
  }
  if (c.expert_dtype != "fp4" && c.expert_dtype != "fp8") {
    r.Problem("expert_dtype", "must be fp4 or fp8");
  }
  if (c.hc_mult <= 0) r.Problem("hc_mult", "must be positive");
  if (c.dim % 128 != 0 && c.dim > 128) r.Problem("hidden_size", "must be a multiple of 128");
  if (!r.errors().empty()) return MakeUnexpected(r.errors());
  return c;
}

Expected<ModelConfig, std::string> LoadModelConfig(const std::filesystem::path& config_json) {
  auto text = ReadFileToString(config_json);
  if (!text) return MakeUnexpected(text.error());
  Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return MakeUnexpected(config_json.string() + ": not valid JSON");
  return ParseModelConfig(j, config_json.string());
}

}  // namespace dsagent::engine
