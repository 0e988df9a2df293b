#include "engine/kernels/cuda/moe_step.h"

#include <stdexcept>
#include <string>

namespace dsagent::engine::kernels::cuda {
namespace {

template <class T>
DeviceBuffer Copy(const std::vector<T>& v, CudaStream& stream) {
  DeviceBuffer b(v.size() * sizeof(T));
  b.Upload(v.data(), b.bytes(), stream);
  stream.Synchronize();
  return b;
}

DeviceBuffer Floats(int64_t n) { return DeviceBuffer(static_cast<size_t>(n) * sizeof(float)); }

// The FP8-quantised copy of `rows` rows of n values (act_quant before an FP8/FP4 product).
const float* Fp8Input(const float* x, int64_t rows, int64_t n, DeviceBuffer& scratch,
                      CudaStream& stream) {
  CopyDeviceToDevice(scratch.data(), x, static_cast<size_t>(rows * n) * sizeof(float), stream);
  ActQuant(scratch.as<float>(), rows, n, 128, ActQuantFormat::kFp8, stream);
  return scratch.as<float>();
}

}  // namespace

DeviceMoe DeviceMoe::Create(const MoeShape& s, const MoeWeightRows& w, CudaStream& stream) {
  const auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("DeviceMoe: " + what);
  };
  const int64_t experts = s.route.experts, k = s.route.k;
  need(s.dim > 0 && s.inter > 0 && s.dim % 128 == 0 && s.inter % 128 == 0,
       "dim and inter must be positive multiples of 128 (FP8 input blocks)");
  need(static_cast<int64_t>(w.w1.size()) == experts && w.w2.size() == w.w1.size() &&
           w.w3.size() == w.w1.size(),
       "w1, w2 and w3 must have one weight per routed expert");
  need(s.hash ? !w.hash_table.empty() && static_cast<int64_t>(w.hash_table.size()) % k == 0
              : static_cast<int64_t>(w.bias.size()) == experts,
       "a hash layer needs its tid2eid table, a scored layer one bias per expert");
  DeviceMoe m;
  m.shape = s;
  m.gate = DeviceWeight::Upload(w.gate, experts, stream);
  m.w1 = DeviceWeightSet::Upload(w.w1, s.inter, stream);
  m.w2 = DeviceWeightSet::Upload(w.w2, s.dim, stream);
  m.w3 = DeviceWeightSet::Upload(w.w3, s.inter, stream);
  m.shared_w1 = DeviceWeight::Upload(w.shared_w1, s.inter, stream);
  m.shared_w2 = DeviceWeight::Upload(w.shared_w2, s.dim, stream);
  m.shared_w3 = DeviceWeight::Upload(w.shared_w3, s.inter, stream);
  if (s.hash) {
    m.hash_table = Copy(w.hash_table, stream);
  } else {
    m.bias = Copy(w.bias, stream);
  }
  m.x_quant = Floats(k * (s.dim > s.inter ? s.dim : s.inter));
  m.logits = Floats(experts);
  m.ids = DeviceBuffer(static_cast<size_t>(k) * sizeof(int32_t));
  m.weights = Floats(k);
  m.g = Floats(k * s.inter);
  m.u = Floats(k * s.inter);
  m.routed = Floats(k * s.dim);
  m.shared_g = Floats(s.inter);
  m.shared_u = Floats(s.inter);
  m.shared_out = Floats(s.dim);
  return m;
}

void MoeDecode(DeviceMoe& m, const float* x, const int32_t* token, float* out, CudaStream& stream) {
  const MoeShape& s = m.shape;
  const int64_t k = s.route.k;
  if (s.hash && token == nullptr) throw CudaError("MoeDecode: a hash layer needs the token id");
  // Router: the exact gate product (both numerics modes), then scores, experts and weights.
  MatVecExact(m.gate, x, 1, s.dim, m.logits.as<float>(), s.route.experts, false, stream);
  int32_t* ids = m.ids.as<int32_t>();
  float* weights = m.weights.as<float>();
  MoeRoute(m.logits.as<float>(), 1, s.route, s.hash ? nullptr : m.bias.as<float>(),
           s.hash ? m.hash_table.as<int32_t>() : nullptr, s.hash ? token : nullptr, ids, weights,
           stream);
  // Routed experts, one slot each: g = w1 . x, u = w3 . x (FP8 input), h = bf16(weight * silu(g)
  // * u) with the clamp, routed = w2 . act_quant(h).
  const float* xq = Fp8Input(x, 1, s.dim, m.x_quant, stream);
  float* g = m.g.as<float>();
  float* u = m.u.as<float>();
  ExpertMatVec(m.w1, ids, k, xq, 0, g, s.inter, true, stream);
  ExpertMatVec(m.w3, ids, k, xq, 0, u, s.inter, true, stream);
  SwiGlu(g, u, k, s.inter, weights, s.swiglu_limit, g, stream);
  const float* hq = Fp8Input(g, k, s.inter, m.x_quant, stream);
  ExpertMatVec(m.w2, ids, k, hq, s.inter, m.routed.as<float>(), s.dim, true, stream);
  // The shared expert (no clamp: see forward/moe.cc).
  const float* xq2 = Fp8Input(x, 1, s.dim, m.x_quant, stream);
  float* sg = m.shared_g.as<float>();
  MatVec(m.shared_w1, xq2, 1, s.dim, sg, s.inter, true, stream);
  MatVec(m.shared_w3, xq2, 1, s.dim, m.shared_u.as<float>(), s.inter, true, stream);
  SwiGlu(sg, m.shared_u.as<float>(), 1, s.inter, nullptr, 0.0f, sg, stream);
  const float* sq = Fp8Input(sg, 1, s.inter, m.x_quant, stream);
  MatVec(m.shared_w2, sq, 1, s.inter, m.shared_out.as<float>(), s.dim, true, stream);
  MoeCombine(m.routed.as<float>(), m.shared_out.as<float>(), ids, 1, k, s.dim, out, stream);
}

}  // namespace dsagent::engine::kernels::cuda
