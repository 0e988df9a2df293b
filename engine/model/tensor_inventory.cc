#include "engine/model/tensor_inventory.h"

namespace dsagent::engine {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Appends the stored tensors of table rows, one scope instance (model, a block, an expert of a
// block, an MTP block's extras) at a time.
class Expander {
 public:
  Expander(const ModelConfig& c, std::vector<ExpectedTensor>* out) : c_(c), out_(out) {}

  // The rows of `scope` under `prefix`; block rows of block `block` (experts expanded in place).
  void Scope(V4Scope scope, const std::string& prefix, int block) {
    const int ratio = block < 0 ? 0 : c_.compress_ratios[static_cast<size_t>(block)];
    const V4Dims dims(c_, ratio);
    const auto rows = V4TensorTable();
    for (size_t i = 0; i < rows.size(); ++i) {
      const V4TensorSpec& row = rows[i];
      if (row.scope == V4Scope::kRoutedExpert && scope == V4Scope::kBlock) {
        // The run of expert rows starting here, repeated for every expert.
        size_t end = i;
        while (end < rows.size() && rows[end].scope == V4Scope::kRoutedExpert) ++end;
        for (int e = 0; e < c_.n_routed_experts; ++e) {
          const std::string x = prefix + "ffn.experts." + std::to_string(e) + ".";
          for (size_t j = i; j < end; ++j) Add(rows[j], x, dims, block, e);
        }
        i = end - 1;
        continue;
      }
      if (row.scope != scope) continue;
      if (block >= 0 && !V4BlockHas(c_, block, row.when)) continue;
      Add(row, prefix, dims, block, -1);
    }
  }

 private:
  void Add(const V4TensorSpec& row, const std::string& prefix, const V4Dims& dims, int block,
           int expert) {
    const std::vector<int64_t> shape = row.shape(dims);
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    ExpectedTensor t;
    t.id = row.id;
    t.block = block;
    t.expert = expert;
    t.values = row.values;
    t.routed_expert = expert >= 0;
    t.mtp = block >= c_.n_layers;
    t.parameters = n;
    const std::string name = prefix + row.name;
    const bool fp4 = row.storage == V4Storage::kExpert && c_.expert_dtype == "fp4";
    if (fp4) {  // e2m1 packed two per byte, e8m0 scale per 32 inputs
      t.name = name + ".weight";
      t.dtype = DType::kI8;
      t.shape = {shape[0], shape[1] / 2};
      out_->push_back(t);
      AddScale(t, name, {shape[0], shape[1] / 32});
    } else if (row.storage == V4Storage::kFp8 || row.storage == V4Storage::kExpert) {
      t.name = name + ".weight";
      t.dtype = DType::kF8E4M3;
      t.shape = shape;
      out_->push_back(t);
      AddScale(t, name, {CeilDiv(shape[0], 128), CeilDiv(shape[1], 128)});
    } else {
      t.name = name;
      t.dtype = row.storage == V4Storage::kBf16  ? DType::kBF16
                : row.storage == V4Storage::kF32 ? DType::kF32
                                                 : DType::kI64;
      t.shape = shape;
      out_->push_back(std::move(t));
    }
  }

  // The e8m0 block scales of `weight` (no parameters of their own).
  void AddScale(ExpectedTensor weight, const std::string& name, std::vector<int64_t> shape) {
    weight.name = name + ".scale";
    weight.dtype = DType::kF8E8M0;
    weight.shape = std::move(shape);
    weight.parameters = 0;
    weight.scale = true;
    out_->push_back(std::move(weight));
  }

  const ModelConfig& c_;
  std::vector<ExpectedTensor>* out_;
};

}  // namespace

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  std::vector<ExpectedTensor> out;
  Expander x(c, &out);
  x.Scope(V4Scope::kModel, "", -1);
  for (int i = 0; i < c.n_layers; ++i) {
    x.Scope(V4Scope::kBlock, "layers." + std::to_string(i) + ".", i);
  }
  for (int m = 0; m < c.n_mtp_layers; ++m) {
    const std::string p = "mtp." + std::to_string(m) + ".";
    x.Scope(V4Scope::kBlock, p, c.n_layers + m);
    x.Scope(V4Scope::kMtp, p, c.n_layers + m);
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
