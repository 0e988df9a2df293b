#include "engine/forward/model_weights.h"

#include <cstring>
#include <map>
#include <tuple>

#include "engine/forward/numerics.h"
#include "engine/model/tensor_inventory.h"

namespace dsagent::engine::forward {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// The dtypes a tensor may be stored in: the table's, and for float tensors either float format,
// for expert ids I32 as well (the reference declares tid2eid int32; checkpoints store int64).
std::vector<DType> AcceptedDTypes(const ExpectedTensor& t) {
  switch (t.dtype) {
    case DType::kBF16:
    case DType::kF32:
      return {DType::kBF16, DType::kF32};
    case DType::kI64:
      return {DType::kI64, DType::kI32};
    default:
      return {t.dtype};
  }
}

// The checkpoint's tensors, every one of ExpectedTensors(config) checked for dtype and shape in
// file order, then looked up by table row, block and expert.
class BoundTensors {
 public:
  BoundTensors(const Checkpoint& ck, std::string where) : ck_(ck), where_(std::move(where)) {}

  // Checks and records every expected tensor. Error: the first problem, naming tensor and file.
  Expected<Ok, std::string> Bind() {
    const ModelConfig& c = ck_.config();
    for (const ExpectedTensor& e : ExpectedTensors(c)) {
      const TensorInfo* t = ck_.Find(e.name);
      if (t == nullptr) return MakeUnexpected("tensor '" + e.name + "' is missing from " + where_);
      const std::vector<DType> accepted = AcceptedDTypes(e);
      bool dtype_ok = false;
      std::string want;
      for (DType d : accepted) {
        dtype_ok = dtype_ok || t->dtype == d;
        want += (want.empty() ? "" : "|") + std::string(DTypeName(d));
      }
      if (!dtype_ok || t->shape != e.shape) {
        return MakeUnexpected("tensor '" + e.name + "' in " + t->file.filename().string() +
                              ": expected " + want + " " + ShapeString(e.shape) + ", got " +
                              DTypeName(t->dtype) + " " + ShapeString(t->shape));
      }
      if (e.id == V4Tensor::kGateTid2eid) {
        if (auto ids = CheckExpertIds(*t, c.n_routed_experts); !ids) return ids;
      }
      Entry& entry = entries_[{e.id, e.block, e.expert}];
      (e.scale ? entry.scale : entry.tensor) = t;
    }
    return Ok{};
  }

  // The matrix of row `id` (plain BF16/F32, or quantised with its block scales).
  WeightMatrix Matrix(V4Tensor id, int block = -1, int expert = -1) const {
    const Entry& e = entries_.at({id, block, expert});
    const TensorInfo& t = *e.tensor;
    WeightMatrix m;
    m.name = t.name;
    m.rows = t.shape[0];
    m.cols = t.shape[1];
    m.data = t.data;
    switch (t.dtype) {
      case DType::kF32:
        m.format = WeightFormat::kF32;
        break;
      case DType::kBF16:
        m.format = WeightFormat::kBF16;
        break;
      case DType::kI8:  // FP4 e2m1, two per byte
        m.format = WeightFormat::kFP4;
        m.cols *= 2;
        break;
      default:
        m.format = WeightFormat::kFP8;
        break;
    }
    if (e.scale != nullptr) {
      m.scale = e.scale->data;
      m.scale_cols = e.scale->shape[1];
    }
    return m;
  }

  // A float copy of the small BF16 or F32 tensor of row `id`.
  std::vector<float> Floats(V4Tensor id, int block = -1) const {
    const TensorInfo& t = *entries_.at({id, block, -1}).tensor;
    std::vector<float> out(static_cast<size_t>(t.elements()));
    for (size_t i = 0; i < out.size(); ++i) {
      if (t.dtype == DType::kF32) {
        std::memcpy(&out[i], t.data + 4 * i, 4);
      } else {
        uint16_t bits;
        std::memcpy(&bits, t.data + 2 * i, 2);
        out[i] = Bf16BitsToFloat(bits);
      }
    }
    return out;
  }

  const TensorInfo* Raw(V4Tensor id, int block) const {
    return entries_.at({id, block, -1}).tensor;
  }

 private:
  struct Entry {
    const TensorInfo* tensor = nullptr;
    const TensorInfo* scale = nullptr;  // quantised matrices
  };

  // Every tid2eid entry must name an expert.
  static Expected<Ok, std::string> CheckExpertIds(const TensorInfo& t, int n_experts) {
    const int64_t n = t.elements();
    for (int64_t i = 0; i < n; ++i) {
      int64_t v;
      if (t.dtype == DType::kI64) {
        std::memcpy(&v, t.data + 8 * i, 8);
      } else {
        int32_t v32;
        std::memcpy(&v32, t.data + 4 * i, 4);
        v = v32;
      }
      if (v < 0 || v >= n_experts) {
        return MakeUnexpected("tensor '" + t.name + "' in " + t.file.filename().string() +
                              ": entry " + std::to_string(i) + " is expert " + std::to_string(v) +
                              ", outside [0, " + std::to_string(n_experts) + ")");
      }
    }
    return Ok{};
  }

  const Checkpoint& ck_;
  std::string where_;
  std::map<std::tuple<V4Tensor, int, int>, Entry> entries_;
};

HcWeights Hc(const BoundTensors& t, V4Tensor fn, V4Tensor base, V4Tensor scale, int block) {
  return {t.Matrix(fn, block), t.Floats(base, block), t.Floats(scale, block)};
}

CompressorWeights Compressor(const BoundTensors& t, const ModelConfig& c, int block, bool indexer) {
  using enum V4Tensor;
  CompressorWeights w;
  w.ratio = c.compress_ratios[static_cast<size_t>(block)];
  w.head_dim = indexer ? c.index_head_dim : c.head_dim;
  w.overlap = w.ratio == 4;
  w.rotate = indexer;  // index keys: Hadamard + FP4
  w.wkv = t.Matrix(indexer ? kIndexerCompressorWkv : kCompressorWkv, block);
  w.wgate = t.Matrix(indexer ? kIndexerCompressorWgate : kCompressorWgate, block);
  w.ape = t.Floats(indexer ? kIndexerCompressorApe : kCompressorApe, block);
  w.norm = t.Floats(indexer ? kIndexerCompressorNorm : kCompressorNorm, block);
  return w;
}

ExpertWeights Expert(const BoundTensors& t, V4Tensor w1, V4Tensor w3, V4Tensor w2, int block,
                     int expert) {
  ExpertWeights w;
  w.w1 = t.Matrix(w1, block, expert);
  w.w3 = t.Matrix(w3, block, expert);
  w.w2 = t.Matrix(w2, block, expert);
  return w;
}

BlockWeights Block(const BoundTensors& t, const ModelConfig& c, int block) {
  using enum V4Tensor;
  BlockWeights b;
  AttentionWeights& a = b.attn;
  a.ratio = c.compress_ratios[static_cast<size_t>(block)];
  a.wq_a = t.Matrix(kWqA, block);
  a.q_norm = t.Floats(kQNorm, block);
  a.wq_b = t.Matrix(kWqB, block);
  a.wkv = t.Matrix(kWkv, block);
  a.kv_norm = t.Floats(kKvNorm, block);
  a.wo_a = t.Matrix(kWoA, block);
  a.wo_b = t.Matrix(kWoB, block);
  a.attn_sink = t.Floats(kAttnSink, block);
  a.has_compressor = V4BlockHas(c, block, V4When::kCompressed);
  if (a.has_compressor) a.compressor = Compressor(t, c, block, false);
  a.has_indexer = V4BlockHas(c, block, V4When::kCsa);
  if (a.has_indexer) {
    a.indexer.wq_b = t.Matrix(kIndexerWqB, block);
    a.indexer.weights_proj = t.Matrix(kIndexerWeightsProj, block);
    a.indexer.compressor = Compressor(t, c, block, true);
  }
  b.attn_norm = t.Floats(kAttnNorm, block);
  b.ffn_norm = t.Floats(kFfnNorm, block);
  b.hc_attn = Hc(t, kHcAttnFn, kHcAttnBase, kHcAttnScale, block);
  b.hc_ffn = Hc(t, kHcFfnFn, kHcFfnBase, kHcFfnScale, block);

  MoeWeights& m = b.ffn;
  m.hash = V4BlockHas(c, block, V4When::kHashRouted);
  m.gate = t.Matrix(kGate, block);
  if (m.hash) {
    m.tid2eid = t.Raw(kGateTid2eid, block);
  } else {
    m.bias = t.Floats(kGateBias, block);
  }
  for (int e = 0; e < c.n_routed_experts; ++e) {
    m.experts.push_back(Expert(t, kExpertW1, kExpertW3, kExpertW2, block, e));
  }
  m.shared = Expert(t, kSharedW1, kSharedW3, kSharedW2, block, -1);
  return b;
}

// Constraints of the forward pass beyond what ParseModelConfig validates.
Expected<Ok, std::string> CheckSupported(const ModelConfig& c) {
  if ((c.head_dim - c.rope_head_dim) % 64 != 0) {
    return MakeUnexpected(
        "config: head_dim - qk_rope_head_dim must be a multiple of 64 (FP8 KV blocks)");
  }
  // Also makes every FP4 expert matrix's input width a multiple of 32 (its scale blocks).
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
  using enum V4Tensor;
  const ModelConfig& c = checkpoint.config();
  if (auto supported = CheckSupported(c); !supported) return MakeUnexpected(supported.error());
  BoundTensors t(checkpoint, where);
  if (auto bound = t.Bind(); !bound) return MakeUnexpected(bound.error());
  ModelWeights w;
  w.embed = t.Matrix(kEmbed);
  w.head = t.Matrix(kHead);
  w.norm = t.Floats(kNorm);
  w.hc_head = Hc(t, kHcHeadFn, kHcHeadBase, kHcHeadScale, -1);
  for (int i = 0; i < c.n_layers; ++i) w.layers.push_back(Block(t, c, i));
  for (int m = 0; m < c.n_mtp_layers; ++m) {
    const int block = c.n_layers + m;
    MtpWeights mw;
    mw.block = Block(t, c, block);
    mw.e_proj = t.Matrix(kMtpEProj, block);
    mw.h_proj = t.Matrix(kMtpHProj, block);
    mw.enorm = t.Floats(kMtpEnorm, block);
    mw.hnorm = t.Floats(kMtpHnorm, block);
    mw.norm = t.Floats(kMtpNorm, block);
    mw.hc_head = Hc(t, kMtpHcHeadFn, kMtpHcHeadBase, kMtpHcHeadScale, block);
    w.mtp.push_back(std::move(mw));
  }
  return w;
}

}  // namespace dsagent::engine::forward
