#include "engine/model/tensor_inventory.h"

namespace dsagent::engine {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

class Builder {
 public:
  explicit Builder(std::vector<ExpectedTensor>* out) : out_(out) {}
  bool mtp = false;
  bool expert = false;

  void Add(const std::string& name, DType dtype, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    out_->push_back({name, dtype, std::move(shape), n, expert, mtp});
  }
  // An FP8 e4m3 weight [out, in] with its e8m0 scale per 128x128 block.
  void Fp8(const std::string& name, int64_t out, int64_t in) {
    Add(name + ".weight", DType::kF8E4M3, {out, in});
    out_->push_back(
        {name + ".scale", DType::kF8E8M0, {CeilDiv(out, 128), CeilDiv(in, 128)}, 0, expert, mtp});
  }
  // An FP4 e2m1 weight [out, in] packed two per int8, with an e8m0 scale per 32 inputs.
  void Fp4(const std::string& name, int64_t out, int64_t in) {
    out_->push_back({name + ".weight", DType::kI8, {out, in / 2}, out * in, expert, mtp});
    out_->push_back({name + ".scale", DType::kF8E8M0, {out, in / 32}, 0, expert, mtp});
  }

 private:
  std::vector<ExpectedTensor>* out_;
};

void AddBlock(const ModelConfig& c, int layer, const std::string& p, Builder& b) {
  const int64_t d = c.dim, hd = c.head_dim;
  const int ratio = c.compress_ratios[static_cast<size_t>(layer)];
  const int hc = c.hc_mult;
  const int64_t mix = (2 + hc) * hc;
  b.Fp8(p + "attn.wq_a", c.q_lora_rank, d);
  b.Add(p + "attn.q_norm.weight", DType::kBF16, {c.q_lora_rank});
  b.Fp8(p + "attn.wq_b", c.n_heads * hd, c.q_lora_rank);
  b.Fp8(p + "attn.wkv", hd, d);
  b.Add(p + "attn.kv_norm.weight", DType::kBF16, {hd});
  b.Fp8(p + "attn.wo_a", c.o_groups * c.o_lora_rank, c.n_heads * hd / c.o_groups);
  b.Fp8(p + "attn.wo_b", d, c.o_groups * c.o_lora_rank);
  b.Add(p + "attn.attn_sink", DType::kF32, {c.n_heads});
  if (ratio > 0) {
    const int64_t coff = ratio == 4 ? 2 : 1;  // ratio 4 compresses overlapping windows
    b.Add(p + "attn.compressor.wkv.weight", DType::kBF16, {coff * hd, d});
    b.Add(p + "attn.compressor.wgate.weight", DType::kBF16, {coff * hd, d});
    b.Add(p + "attn.compressor.ape", DType::kF32, {ratio, coff * hd});
    b.Add(p + "attn.compressor.norm.weight", DType::kBF16, {hd});
    if (ratio == 4) {
      const int64_t ihd = c.index_head_dim;
      b.Fp8(p + "attn.indexer.wq_b", c.index_n_heads * ihd, c.q_lora_rank);
      b.Add(p + "attn.indexer.weights_proj.weight", DType::kBF16, {c.index_n_heads, d});
      b.Add(p + "attn.indexer.compressor.wkv.weight", DType::kBF16, {coff * ihd, d});
      b.Add(p + "attn.indexer.compressor.wgate.weight", DType::kBF16, {coff * ihd, d});
      b.Add(p + "attn.indexer.compressor.ape", DType::kF32, {ratio, coff * ihd});
      b.Add(p + "attn.indexer.compressor.norm.weight", DType::kBF16, {ihd});
    }
  }
  b.Add(p + "attn_norm.weight", DType::kBF16, {d});
  b.Add(p + "ffn_norm.weight", DType::kBF16, {d});
  for (const char* which : {"attn", "ffn"}) {
    const std::string h = p + "hc_" + which;
    b.Add(h + "_fn", DType::kF32, {mix, hc * d});
    b.Add(h + "_base", DType::kF32, {mix});
    b.Add(h + "_scale", DType::kF32, {3});
  }
  b.Add(p + "ffn.gate.weight", DType::kBF16, {c.n_routed_experts, d});
  if (layer < c.n_hash_layers) {
    b.Add(p + "ffn.gate.tid2eid", DType::kI64, {c.vocab_size, c.n_activated_experts});
  } else {
    b.Add(p + "ffn.gate.bias", DType::kF32, {c.n_routed_experts});
  }
  const int64_t inter = c.moe_inter_dim;
  b.expert = true;
  for (int e = 0; e < c.n_routed_experts; ++e) {
    const std::string x = p + "ffn.experts." + std::to_string(e) + ".";
    if (c.expert_dtype == "fp4") {
      b.Fp4(x + "w1", inter, d);
      b.Fp4(x + "w3", inter, d);
      b.Fp4(x + "w2", d, inter);
    } else {
      b.Fp8(x + "w1", inter, d);
      b.Fp8(x + "w3", inter, d);
      b.Fp8(x + "w2", d, inter);
    }
  }
  b.expert = false;
  b.Fp8(p + "ffn.shared_experts.w1", inter, d);
  b.Fp8(p + "ffn.shared_experts.w3", inter, d);
  b.Fp8(p + "ffn.shared_experts.w2", d, inter);
}

}  // namespace

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  std::vector<ExpectedTensor> out;
  Builder b(&out);
  const int64_t d = c.dim;
  b.Add("embed.weight", DType::kBF16, {c.vocab_size, d});
  b.Add("head.weight", DType::kBF16, {c.vocab_size, d});
  b.Add("norm.weight", DType::kBF16, {d});
  b.Add("hc_head_fn", DType::kF32, {c.hc_mult, c.hc_mult * d});
  b.Add("hc_head_base", DType::kF32, {c.hc_mult});
  b.Add("hc_head_scale", DType::kF32, {1});
  for (int i = 0; i < c.n_layers; ++i) AddBlock(c, i, "layers." + std::to_string(i) + ".", b);
  b.mtp = true;
  for (int m = 0; m < c.n_mtp_layers; ++m) {
    const std::string p = "mtp." + std::to_string(m) + ".";
    AddBlock(c, c.n_layers + m, p, b);
    b.Fp8(p + "e_proj", d, d);
    b.Fp8(p + "h_proj", d, d);
    b.Add(p + "enorm.weight", DType::kBF16, {d});
    b.Add(p + "hnorm.weight", DType::kBF16, {d});
    b.Add(p + "norm.weight", DType::kBF16, {d});
    b.Add(p + "hc_head_fn", DType::kF32, {c.hc_mult, c.hc_mult * d});
    b.Add(p + "hc_head_base", DType::kF32, {c.hc_mult});
    b.Add(p + "hc_head_scale", DType::kF32, {1});
  }
  return out;
}

ParameterCounts CountParameters(const ModelConfig& c) {
  ParameterCounts n;
  for (const auto& t : ExpectedTensors(c)) {
    int64_t elements = 1;
    for (int64_t dim : t.shape) elements *= dim;
    n.stored_bytes += elements * static_cast<int64_t>(DTypeBytes(t.dtype));
    n.total += t.parameters;
    if (t.mtp) continue;
    n.total_no_mtp += t.parameters;
    if (t.routed_expert) {
      n.routed_expert_parameters += t.parameters;
    } else {
      n.active += t.parameters;
    }
  }
  // Each token uses k of the n routed experts in every layer.
  n.active += n.routed_expert_parameters * c.n_activated_experts / c.n_routed_experts;
  return n;
}

}  // namespace dsagent::engine
