#include "engine/forward/model_weights.h"

#include <cstring>

#include "engine/forward/numerics.h"

namespace dsagent::engine::forward {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Looks tensors up and records the first problem; later calls after an error are no-ops.
class Loader {
 public:
  Loader(const Checkpoint& ck, std::string where) : ck_(ck), where_(std::move(where)) {}

  const std::string& error() const { return error_; }
  bool ok() const { return error_.empty(); }

  // The tensor with one of `dtypes` and exactly `shape`, or nullptr (error recorded).
  const TensorInfo* Tensor(const std::string& name, std::initializer_list<DType> dtypes,
                           const std::vector<int64_t>& shape) {
    if (!ok()) return nullptr;
    const TensorInfo* t = ck_.Find(name);
    if (t == nullptr) {
      error_ = "tensor '" + name + "' is missing from " + where_;
      return nullptr;
    }
    bool dtype_ok = false;
    std::string want;
    for (DType d : dtypes) {
      dtype_ok = dtype_ok || t->dtype == d;
      want += (want.empty() ? "" : "|") + std::string(DTypeName(d));
    }
    if (!dtype_ok || t->shape != shape) {
      error_ = "tensor '" + name + "' in " + t->file.filename().string() + ": expected " + want +
               " " + ShapeString(shape) + ", got " + DTypeName(t->dtype) + " " +
               ShapeString(t->shape);
      return nullptr;
    }
    return t;
  }

  // A float copy of a small BF16 or F32 vector/matrix with `shape`.
  std::vector<float> Floats(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorInfo* t = Tensor(name, {DType::kBF16, DType::kF32}, shape);
    if (t == nullptr) return {};
    std::vector<float> out(static_cast<size_t>(t->elements()));
    for (size_t i = 0; i < out.size(); ++i) {
      if (t->dtype == DType::kF32) {
        std::memcpy(&out[i], t->data + 4 * i, 4);
      } else {
        uint16_t bits;
        std::memcpy(&bits, t->data + 2 * i, 2);
        out[i] = Bf16BitsToFloat(bits);
      }
    }
    return out;
  }

  // A plain BF16/F32 matrix `name` [rows, cols].
  WeightMatrix Plain(const std::string& name, int64_t rows, int64_t cols) {
    WeightMatrix m;
    const TensorInfo* t = Tensor(name, {DType::kBF16, DType::kF32}, {rows, cols});
    if (t == nullptr) return m;
    m.name = name;
    m.format = t->dtype == DType::kF32 ? WeightFormat::kF32 : WeightFormat::kBF16;
    m.rows = rows;
    m.cols = cols;
    m.data = t->data;
    return m;
  }

  // `prefix.weight` FP8 e4m3 [rows, cols] + `prefix.scale` e8m0 per 128x128 block.
  WeightMatrix Fp8(const std::string& prefix, int64_t rows, int64_t cols) {
    WeightMatrix m;
    const TensorInfo* w = Tensor(prefix + ".weight", {DType::kF8E4M3}, {rows, cols});
    const TensorInfo* s =
        Tensor(prefix + ".scale", {DType::kF8E8M0}, {CeilDiv(rows, 128), CeilDiv(cols, 128)});
    if (w == nullptr || s == nullptr) return m;
    m.name = prefix + ".weight";
    m.format = WeightFormat::kFP8;
    m.rows = rows;
    m.cols = cols;
    m.data = w->data;
    m.scale = s->data;
    m.scale_cols = CeilDiv(cols, 128);
    return m;
  }

  // `prefix.weight` FP4 packed in I8 [rows, cols/2] + `prefix.scale` e8m0 [rows, cols/32].
  WeightMatrix Fp4(const std::string& prefix, int64_t rows, int64_t cols) {
    WeightMatrix m;
    if (cols % 32 != 0) {
      if (ok()) error_ = "tensor '" + prefix + ".weight': FP4 needs a multiple of 32 columns";
      return m;
    }
    const TensorInfo* w = Tensor(prefix + ".weight", {DType::kI8}, {rows, cols / 2});
    const TensorInfo* s = Tensor(prefix + ".scale", {DType::kF8E8M0}, {rows, cols / 32});
    if (w == nullptr || s == nullptr) return m;
    m.name = prefix + ".weight";
    m.format = WeightFormat::kFP4;
    m.rows = rows;
    m.cols = cols;
    m.data = w->data;
    m.scale = s->data;
    m.scale_cols = cols / 32;
    return m;
  }

  // Every tid2eid entry must name an expert.
  void CheckExpertIds(const TensorInfo* t, int n_experts) {
    if (t == nullptr) return;
    const int64_t n = t->elements();
    for (int64_t i = 0; i < n; ++i) {
      int64_t v;
      if (t->dtype == DType::kI64) {
        std::memcpy(&v, t->data + 8 * i, 8);
      } else {
        int32_t v32;
        std::memcpy(&v32, t->data + 4 * i, 4);
        v = v32;
      }
      if (v < 0 || v >= n_experts) {
        error_ = "tensor '" + t->name + "' in " + t->file.filename().string() + ": entry " +
                 std::to_string(i) + " is expert " + std::to_string(v) + ", outside [0, " +
                 std::to_string(n_experts) + ")";
        return;
      }
    }
  }

  HcWeights Hc(const std::string& prefix, int64_t mix, int64_t hc_dim, int64_t n_scale) {
    HcWeights h;
    h.fn = Plain(prefix + "_fn", mix, hc_dim);
    h.base = Floats(prefix + "_base", {mix});
    h.scale = Floats(prefix + "_scale", {n_scale});
    return h;
  }

  CompressorWeights Compressor(const std::string& p, int ratio, int64_t head_dim, int64_t dim,
                               bool rotate) {
    CompressorWeights c;
    c.ratio = ratio;
    c.head_dim = head_dim;
    c.overlap = ratio == 4;
    c.rotate = rotate;
    const int64_t width = (c.overlap ? 2 : 1) * head_dim;
    c.wkv = Plain(p + "wkv.weight", width, dim);
    c.wgate = Plain(p + "wgate.weight", width, dim);
    c.ape = Floats(p + "ape", {ratio, width});
    c.norm = Floats(p + "norm.weight", {head_dim});
    return c;
  }

  BlockWeights Block(const ModelConfig& c, int layer, const std::string& p) {
    BlockWeights b;
    const int64_t d = c.dim, hd = c.head_dim;
    AttentionWeights& a = b.attn;
    a.ratio = c.compress_ratios[static_cast<size_t>(layer)];
    a.wq_a = Fp8(p + "attn.wq_a", c.q_lora_rank, d);
    a.q_norm = Floats(p + "attn.q_norm.weight", {c.q_lora_rank});
    a.wq_b = Fp8(p + "attn.wq_b", c.n_heads * hd, c.q_lora_rank);
    a.wkv = Fp8(p + "attn.wkv", hd, d);
    a.kv_norm = Floats(p + "attn.kv_norm.weight", {hd});
    a.wo_a = Fp8(p + "attn.wo_a", c.o_groups * c.o_lora_rank, c.n_heads * hd / c.o_groups);
    a.wo_b = Fp8(p + "attn.wo_b", d, c.o_groups * c.o_lora_rank);
    a.attn_sink = Floats(p + "attn.attn_sink", {c.n_heads});
    if (a.ratio > 0) {
      a.has_compressor = true;
      a.compressor = Compressor(p + "attn.compressor.", a.ratio, hd, d, false);
      if (a.ratio == 4) {
        a.has_indexer = true;
        const int64_t ihd = c.index_head_dim;
        a.indexer.wq_b = Fp8(p + "attn.indexer.wq_b", c.index_n_heads * ihd, c.q_lora_rank);
        a.indexer.weights_proj = Plain(p + "attn.indexer.weights_proj.weight", c.index_n_heads, d);
        a.indexer.compressor = Compressor(p + "attn.indexer.compressor.", a.ratio, ihd, d, true);
      }
    }
    b.attn_norm = Floats(p + "attn_norm.weight", {d});
    b.ffn_norm = Floats(p + "ffn_norm.weight", {d});
    const int64_t mix = (2 + c.hc_mult) * c.hc_mult;
    b.hc_attn = Hc(p + "hc_attn", mix, c.hc_mult * d, 3);
    b.hc_ffn = Hc(p + "hc_ffn", mix, c.hc_mult * d, 3);

    MoeWeights& m = b.ffn;
    m.hash = layer < c.n_hash_layers;
    m.gate = Plain(p + "ffn.gate.weight", c.n_routed_experts, d);
    if (m.hash) {
      m.tid2eid = Tensor(p + "ffn.gate.tid2eid", {DType::kI64, DType::kI32},
                         {c.vocab_size, c.n_activated_experts});
      CheckExpertIds(m.tid2eid, c.n_routed_experts);
    } else {
      m.bias = Floats(p + "ffn.gate.bias", {c.n_routed_experts});
    }
    const int64_t inter = c.moe_inter_dim;
    for (int e = 0; e < c.n_routed_experts && ok(); ++e) {
      const std::string x = p + "ffn.experts." + std::to_string(e) + ".";
      ExpertWeights ew;
      if (c.expert_dtype == "fp4") {
        ew.w1 = Fp4(x + "w1", inter, d);
        ew.w3 = Fp4(x + "w3", inter, d);
        ew.w2 = Fp4(x + "w2", d, inter);
      } else {
        ew.w1 = Fp8(x + "w1", inter, d);
        ew.w3 = Fp8(x + "w3", inter, d);
        ew.w2 = Fp8(x + "w2", d, inter);
      }
      m.experts.push_back(std::move(ew));
    }
    m.shared.w1 = Fp8(p + "ffn.shared_experts.w1", inter, d);
    m.shared.w3 = Fp8(p + "ffn.shared_experts.w3", inter, d);
    m.shared.w2 = Fp8(p + "ffn.shared_experts.w2", d, inter);
    return b;
  }

 private:
  const Checkpoint& ck_;
  std::string where_;
  std::string error_;
};

// Constraints of the forward pass beyond what ParseModelConfig validates.
Expected<Ok, std::string> CheckSupported(const ModelConfig& c) {
  if ((c.head_dim - c.rope_head_dim) % 64 != 0) {
    return MakeUnexpected(
        "config: head_dim - qk_rope_head_dim must be a multiple of 64 (FP8 KV blocks)");
  }
  if (c.dim % 128 != 0 || c.q_lora_rank % 128 != 0 || c.moe_inter_dim % 128 != 0 ||
      (c.o_groups * c.o_lora_rank) % 128 != 0) {
    return MakeUnexpected(
        "config: hidden_size, q_lora_rank, moe_intermediate_size and o_groups*o_lora_rank "
        "must be multiples of 128 (FP8 activation blocks)");
  }
  if ((c.index_head_dim & (c.index_head_dim - 1)) != 0 || c.index_head_dim < 32) {
    return MakeUnexpected(
        "config: index_head_dim must be a power of two >= 32 (Hadamard, FP4 blocks)");
  }
  if (c.window_size <= 0) return MakeUnexpected("config: sliding_window must be positive");
  if (c.hc_sinkhorn_iters <= 0) return MakeUnexpected("config: hc_sinkhorn_iters must be positive");
  return Ok{};
}

}  // namespace

Expected<ModelWeights, std::string> LoadModelWeights(const Checkpoint& checkpoint,
                                                     const std::string& where) {
  const ModelConfig& c = checkpoint.config();
  if (auto supported = CheckSupported(c); !supported) return MakeUnexpected(supported.error());
  Loader l(checkpoint, where);
  ModelWeights w;
  w.embed = l.Plain("embed.weight", c.vocab_size, c.dim);
  w.head = l.Plain("head.weight", c.vocab_size, c.dim);
  w.norm = l.Floats("norm.weight", {c.dim});
  w.hc_head = l.Hc("hc_head", c.hc_mult, c.hc_mult * c.dim, 1);
  for (int i = 0; i < c.n_layers && l.ok(); ++i) {
    w.layers.push_back(l.Block(c, i, "layers." + std::to_string(i) + "."));
  }
  for (int m = 0; m < c.n_mtp_layers && l.ok(); ++m) {
    const std::string p = "mtp." + std::to_string(m) + ".";
    MtpWeights mw;
    mw.block = l.Block(c, c.n_layers + m, p);
    mw.e_proj = l.Fp8(p + "e_proj", c.dim, c.dim);
    mw.h_proj = l.Fp8(p + "h_proj", c.dim, c.dim);
    mw.enorm = l.Floats(p + "enorm.weight", {c.dim});
    mw.hnorm = l.Floats(p + "hnorm.weight", {c.dim});
    mw.norm = l.Floats(p + "norm.weight", {c.dim});
    mw.hc_head = l.Hc(p + "hc_head", c.hc_mult, c.hc_mult * c.dim, 1);
    w.mtp.push_back(std::move(mw));
  }
  if (!l.ok()) return MakeUnexpected(l.error());
  return w;
}

}  // namespace dsagent::engine::forward
