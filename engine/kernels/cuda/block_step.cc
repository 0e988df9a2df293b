#include "engine/kernels/cuda/block_step.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "engine/kernels/cuda/phase_times.h"

namespace dsagent::engine::kernels::cuda {
namespace {

DeviceBuffer Copy(const std::vector<float>& v, CudaStream& stream) {
  DeviceBuffer b(v.size() * sizeof(float));
  b.Upload(v.data(), b.bytes(), stream);
  stream.Synchronize();
  return b;
}

void NeedSize(const std::vector<float>& v, int64_t n, const char* what) {
  if (static_cast<int64_t>(v.size()) != n) {
    throw std::invalid_argument(std::string(what) + " has " + std::to_string(v.size()) +
                                " values, the shape needs " + std::to_string(n));
  }
}

}  // namespace

DeviceHcWeights DeviceHcWeights::Upload(const WeightRows& fn, int64_t mix,
                                        const std::vector<float>& base,
                                        const std::vector<float>& scale, CudaStream& stream) {
  NeedSize(base, mix, "mHC base");
  DeviceHcWeights w;
  w.fn = DeviceWeight::Upload(fn, mix, stream);
  w.base = Copy(base, stream);
  w.scale = Copy(scale, stream);
  return w;
}

DeviceBlock DeviceBlock::Create(const HcKernelShape& hc, DeviceAttention attn, DeviceMoe ffn,
                                DeviceHcWeights hc_attn, DeviceHcWeights hc_ffn,
                                const std::vector<float>& attn_norm,
                                const std::vector<float>& ffn_norm, CudaStream& stream) {
  const int64_t mix = (2 + hc.hc) * hc.hc;
  if (attn.shape.dim != hc.dim || ffn.shape.dim != hc.dim || hc_attn.fn.rows != mix ||
      hc_ffn.fn.rows != mix || hc_attn.fn.cols != hc.hc * hc.dim) {
    throw std::invalid_argument("DeviceBlock: the sub-layers and mixings do not share dim " +
                                std::to_string(hc.dim) + " and " + std::to_string(hc.hc) +
                                " streams");
  }
  NeedSize(attn_norm, hc.dim, "attn_norm");
  NeedSize(ffn_norm, hc.dim, "ffn_norm");
  DeviceBlock b;
  b.hc = hc;
  b.attn = std::move(attn);
  b.ffn = std::move(ffn);
  b.hc_attn = std::move(hc_attn);
  b.hc_ffn = std::move(hc_ffn);
  b.attn_norm = Copy(attn_norm, stream);
  b.ffn_norm = Copy(ffn_norm, stream);
  b.products = DeviceFloats(mix);
  b.hc_arrivals = DeviceBuffer(sizeof(unsigned));
  b.hc_arrivals.Zero(stream);
  b.y = DeviceFloats(hc.dim);
  b.f = DeviceFloats(hc.dim);
  b.post = DeviceFloats(hc.hc);
  b.comb = DeviceFloats(hc.hc * hc.hc);
  b.comb_rms = DeviceFloats(1);
  b.comb_side = std::make_unique<SideStream>();
  return b;
}

void BlockDecode(DeviceBlock& b, DeviceAttentionState& state, float* h, int64_t pos,
                 const int32_t* token, CudaStream& stream, DeviceBlock* combine_from,
                 bool leave_combine) {
  const HcKernelShape& s = b.hc;
  float* y = b.y.as<float>();
  float* f = b.f.as<float>();
  float* post = b.post.as<float>();
  float* comb = b.comb.as<float>();
  float* products = b.products.as<float>();
  // Attention: y = attn_norm(hc_pre(h)); h = hc_post(attn(y), h). The fn products are exact in
  // both modes, as on the CPU (they feed Sinkhorn); they and hc_pre are one launch.
  unsigned* arrivals = b.hc_arrivals.as<unsigned>();
  // With side streams on, each sub-layer's comb (read only by its HcPost, at the sub-layer's end)
  // is computed beside it on b.comb_side: the HcPre launch leaves the rms factor in comb_rms and
  // HcComb runs the Sinkhorn iterations from there, off the step's path. The same bits as the
  // HcPre launch computing comb itself, which it does with side streams off.
  const bool beside = SideStreamsOn() && b.comb_side != nullptr;
  float* comb_rms = beside ? b.comb_rms.as<float>() : nullptr;
  const auto comb_beside = [&](const DeviceHcWeights& w) {
    if (!beside) return;
    b.comb_side->Fork(stream);
    HcComb(products, comb_rms, 1, w.scale.as<float>(), w.base.as<float>(), s, comb,
           b.comb_side->stream());
  };
  // The sub-layers' FP8 inputs are written by HcFnPreNorm, into the buffers they read them from.
  if (combine_from != nullptr) {
    // The block before's MoE output into the streams (its FFN's post and comb) in this launch.
    HcCombinePostFnPreNorm(
        b.hc_attn.fn, MoeCombineSourceOf(combine_from->ffn, combine_from->f.as<float>()),
        combine_from->post.as<float>(), combine_from->comb.as<float>(), h, 1, products,
        b.hc_attn.scale.as<float>(), b.hc_attn.base.as<float>(), s, b.attn_norm.as<float>(),
        s.norm_eps, y, post, comb, arrivals, stream, AttentionFp8Input(b.attn), comb_rms);
  } else {
    HcFnPreNorm(b.hc_attn.fn, h, 1, products, b.hc_attn.scale.as<float>(),
                b.hc_attn.base.as<float>(), s, b.attn_norm.as<float>(), s.norm_eps, y, post, comb,
                arrivals, stream, AttentionFp8Input(b.attn), comb_rms);
  }
  comb_beside(b.hc_attn);
  AttentionDecode(b.attn, state, y, pos, f, stream, /*x_fp8_written=*/true);
  // MoE: the same around the FFN, the attention's HcPost in the same launch (which also reads
  // products and comb_rms's last values before it writes the FFN's: the join first).
  if (beside) b.comb_side->Join(stream);
  HcPostFnPreNorm(b.hc_ffn.fn, f, h, 1, products, b.hc_ffn.scale.as<float>(),
                  b.hc_ffn.base.as<float>(), s, b.ffn_norm.as<float>(), s.norm_eps, y, post, comb,
                  arrivals, stream, MoeFp8Input(b.ffn), comb_rms);
  comb_beside(b.hc_ffn);
  // The MoE's output into the streams by HcPost in the MoE's combine launch, after the comb; or
  // left to the next block's first launch, with the comb joined here.
  const HcPostArgs into_streams{h, post, comb, s, h};
  MoeDecode(b.ffn, y, token, f, stream, /*x_fp8_written=*/true, &into_streams,
            beside ? b.comb_side.get() : nullptr, leave_combine);
  if (leave_combine && beside) b.comb_side->Join(stream);
}

DeviceHead DeviceHead::Create(const HcKernelShape& hc, DeviceHcWeights hc_head,
                              const std::vector<float>& norm, const WeightRows& head, int64_t vocab,
                              CudaStream& stream) {
  if (hc_head.fn.rows != hc.hc || hc_head.fn.cols != hc.hc * hc.dim || head.cols != hc.dim) {
    throw std::invalid_argument("DeviceHead: hc_head or the head does not match dim " +
                                std::to_string(hc.dim) + " and " + std::to_string(hc.hc) +
                                " streams");
  }
  NeedSize(norm, hc.dim, "norm");
  DeviceHead d;
  d.hc = hc;
  d.hc_head = std::move(hc_head);
  d.norm = Copy(norm, stream);
  d.head = DeviceWeight::Upload(head, vocab, stream);
  d.products = DeviceFloats(hc.hc);
  d.y = DeviceFloats(hc.dim);
  return d;
}

void HeadDecode(DeviceHead& d, const float* h, float* logits, CudaStream& stream) {
  const HcKernelShape& s = d.hc;
  float* y = d.y.as<float>();
  MatVecExact(d.hc_head.fn, h, 1, s.hc * s.dim, d.products.as<float>(), s.hc, false, stream);
  HcHead(h, d.products.as<float>(), 1, d.hc_head.scale.as<float>(), d.hc_head.base.as<float>(), s,
         y, stream);
  RmsNorm(y, 1, s.dim, d.norm.as<float>(), s.norm_eps, y, stream);
  MatVec(d.head, y, 1, s.dim, logits, d.head.rows, false, stream);
}

void BlockRows(DeviceBlock& b, const AttentionChunk* chunks, int64_t n_chunks, float* h,
               int64_t rows, const int32_t* tokens, DeviceRows& scratch, CudaStream& stream,
               const SequenceRows& sequences, const DeviceBlock* combine_from, bool leave_combine) {
  const HcKernelShape& s = b.hc;
  float* y = scratch.y.as<float>();
  float* f = scratch.f.as<float>();
  float* post = scratch.post.as<float>();
  float* comb = scratch.comb.as<float>();
  float* products = scratch.products.as<float>();
  unsigned* arrivals = scratch.hc_arrivals.as<unsigned>();
  MarkPhase(stream, "mixing");
  // The sub-layers' FP8 inputs are written by HcFnPreNorm, into scratch.x_quant where they read
  // them.
  float* y_fp8 = scratch.x_quant.as<float>();
  if (combine_from != nullptr) {
    // The block before's MoE output into the streams (its FFN's post and comb, still in post and
    // comb) in this launch.
    const MoeCombineSource before{scratch.routed.as<float>(), scratch.shared_out.as<float>(),
                                  scratch.ids.as<int32_t>(), combine_from->ffn.shape.route.k, f};
    HcCombinePostFnPreNorm(b.hc_attn.fn, before, post, comb, h, rows, products,
                           b.hc_attn.scale.as<float>(), b.hc_attn.base.as<float>(), s,
                           b.attn_norm.as<float>(), s.norm_eps, y, post, comb, arrivals, stream,
                           y_fp8);
  } else {
    HcFnPreNorm(b.hc_attn.fn, h, rows, products, b.hc_attn.scale.as<float>(),
                b.hc_attn.base.as<float>(), s, b.attn_norm.as<float>(), s.norm_eps, y, post, comb,
                arrivals, stream, y_fp8);
  }
  AttentionRows(b.attn, chunks, n_chunks, y, rows, scratch, f, stream, sequences,
                /*x_fp8_written=*/true);
  MarkPhase(stream, "mixing");
  HcPostFnPreNorm(b.hc_ffn.fn, f, h, rows, products, b.hc_ffn.scale.as<float>(),
                  b.hc_ffn.base.as<float>(), s, b.ffn_norm.as<float>(), s.norm_eps, y, post, comb,
                  arrivals, stream, y_fp8);
  // The MoE's output into the streams by HcPost in the combine's launch (the last block's; the
  // others leave their combine to the next block's first launch).
  const HcPostArgs into_streams{h, post, comb, s, h};
  MoeRows(b.ffn, y, rows, tokens, scratch, f, stream, /*x_fp8_written=*/true, leave_combine,
          &into_streams);
}

void HeadRows(DeviceHead& d, const float* h, int64_t rows, DeviceRows& scratch, float* logits,
              CudaStream& stream) {
  const HcKernelShape& s = d.hc;
  float* y = scratch.head_y.as<float>();
  float* products = scratch.head_products.as<float>();
  MarkPhase(stream, "head");
  MatVecExact(d.hc_head.fn, h, rows, s.hc * s.dim, products, s.hc, false, stream);
  HcHead(h, products, rows, d.hc_head.scale.as<float>(), d.hc_head.base.as<float>(), s, y, stream);
  RmsNorm(y, rows, s.dim, d.norm.as<float>(), s.norm_eps, y, stream);
  MatVec(d.head, y, rows, s.dim, logits, d.head.rows, false, stream);
}

}  // namespace dsagent::engine::kernels::cuda
