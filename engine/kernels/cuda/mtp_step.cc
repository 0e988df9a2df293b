#include "engine/kernels/cuda/mtp_step.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "engine/kernels/cuda/mixing_ops.h"

namespace dsagent::engine::kernels::cuda {
namespace {

DeviceBuffer Copy(const std::vector<float>& v, int64_t n, const char* what, CudaStream& stream) {
  if (static_cast<int64_t>(v.size()) != n) {
    throw std::invalid_argument(std::string("DeviceMtp: ") + what + " has " +
                                std::to_string(v.size()) + " values, the shape needs " +
                                std::to_string(n));
  }
  DeviceBuffer b(v.size() * sizeof(float));
  b.Upload(v.data(), b.bytes(), stream);
  stream.Synchronize();
  return b;
}

}  // namespace

DeviceMtp DeviceMtp::Create(const HcKernelShape& hc, const WeightRows& e_proj,
                            const WeightRows& h_proj, const std::vector<float>& enorm,
                            const std::vector<float>& hnorm, DeviceBlock block,
                            DeviceHcWeights hc_head, const std::vector<float>& norm,
                            CudaStream& stream) {
  if (e_proj.cols != hc.dim || h_proj.cols != hc.dim || block.hc.dim != hc.dim ||
      block.hc.hc != hc.hc || hc_head.fn.rows != hc.hc || hc_head.fn.cols != hc.hc * hc.dim) {
    throw std::invalid_argument(
        "DeviceMtp: the projections, the block or hc_head do not match dim " +
        std::to_string(hc.dim) + " and " + std::to_string(hc.hc) + " streams");
  }
  DeviceMtp m;
  m.hc = hc;
  m.e_proj = DeviceWeight::Upload(e_proj, hc.dim, stream);
  m.h_proj = DeviceWeight::Upload(h_proj, hc.dim, stream);
  m.enorm = Copy(enorm, hc.dim, "enorm", stream);
  m.hnorm = Copy(hnorm, hc.dim, "hnorm", stream);
  m.block = std::move(block);
  m.hc_head = std::move(hc_head);
  m.norm = Copy(norm, hc.dim, "norm", stream);
  m.e = DeviceFloats(hc.dim);
  m.pe = DeviceFloats(hc.dim);
  m.hn = DeviceFloats(hc.hc * hc.dim);
  m.h = DeviceFloats(hc.hc * hc.dim);
  m.y = DeviceFloats(hc.dim);
  m.products = DeviceFloats(hc.hc);
  return m;
}

void MtpDecode(DeviceMtp& m, const DeviceWeight& embed, const DeviceWeight& head,
               DeviceAttentionState& state, const float* streams, const int32_t* token, int64_t pos,
               float* logits, CudaStream& stream) {
  const HcKernelShape& s = m.hc;
  float* e = m.e.as<float>();
  float* pe = m.pe.as<float>();
  float* hn = m.hn.as<float>();
  float* h = m.h.as<float>();
  // e_proj(enorm(embed(next))): the products take their input FP8-quantised per 128 and round
  // their output to bf16 (forward::Linear with kFp8Per128, kBF16), as the CPU's RunMtp.
  EmbedToStreams(embed, token, 1, e, stream);
  RmsNorm(e, 1, s.dim, m.enorm.as<float>(), s.norm_eps, e, stream);
  ActQuant(e, 1, s.dim, 128, ActQuantFormat::kFp8, stream);
  MatVec(m.e_proj, e, 1, s.dim, pe, s.dim, true, stream);
  // h_proj(hnorm(h)) per stream, then the projection above added to each.
  RmsNorm(streams, s.hc, s.dim, m.hnorm.as<float>(), s.norm_eps, hn, stream);
  ActQuant(hn, s.hc, s.dim, 128, ActQuantFormat::kFp8, stream);
  MatVec(m.h_proj, hn, s.hc, s.dim, h, s.dim, true, stream);
  AddToStreamsBf16(pe, s.hc, s.dim, h, stream);
  BlockDecode(m.block, state, h, pos, token, stream);
  if (logits == nullptr) return;
  // The MTP head: HeadDecode's steps (block_step.h) with the MTP block's hc_head and norm and the
  // model's head weight.
  float* y = m.y.as<float>();
  MatVecExact(m.hc_head.fn, h, 1, s.hc * s.dim, m.products.as<float>(), s.hc, false, stream);
  HcHead(h, m.products.as<float>(), 1, m.hc_head.scale.as<float>(), m.hc_head.base.as<float>(), s,
         y, stream);
  RmsNorm(y, 1, s.dim, m.norm.as<float>(), s.norm_eps, y, stream);
  MatVec(head, y, 1, s.dim, logits, head.rows, false, stream);
}

}  // namespace dsagent::engine::kernels::cuda
