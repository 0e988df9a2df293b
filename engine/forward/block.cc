#include "engine/forward/block.h"

#include <vector>

#include "engine/forward/attention.h"
#include "engine/forward/hyper_connection.h"
#include "engine/forward/linear.h"
#include "engine/forward/moe.h"

namespace dsagent::engine::forward {
namespace {

HcShape ShapeOf(const ModelConfig& c) {
  HcShape s;
  s.hc = c.hc_mult;
  s.dim = c.dim;
  s.sinkhorn_iters = c.hc_sinkhorn_iters;
  s.hc_eps = static_cast<float>(c.hc_eps);
  s.norm_eps = static_cast<float>(c.norm_eps);
  return s;
}

}  // namespace

void BlockForward(const BlockWeights& w, const ModelConfig& c, const Rope& rope, int64_t start,
                  const int32_t* tokens, int64_t rows, float* h, LayerState& state,
                  const Compute& cx) {
  const LayerChunk chunk{&state, start, rows};
  BlockForward(w, c, rope, std::span<const LayerChunk>(&chunk, 1), tokens, h, cx);
}

void BlockForward(const BlockWeights& w, const ModelConfig& c, const Rope& rope,
                  std::span<const LayerChunk> chunks, const int32_t* tokens, float* h,
                  const Compute& cx) {
  int64_t rows = 0;
  for (const LayerChunk& k : chunks) rows += k.rows;
  const HcShape s = ShapeOf(c);
  const float eps = static_cast<float>(c.norm_eps);
  std::vector<float> y(static_cast<size_t>(rows * c.dim)), f(y.size());
  std::vector<float> post(static_cast<size_t>(rows * s.hc)),
      comb(static_cast<size_t>(rows * s.hc * s.hc));

  HcPre(h, rows, w.hc_attn, s, y.data(), post.data(), comb.data(), cx);
  cx.ops.RmsNormBf16(kernels::F32Rows(y.data(), rows, c.dim), w.attn_norm.data(), eps,
                     kernels::F32Rows(y.data(), rows, c.dim));
  AttentionForward(w.attn, c, rope, chunks, y.data(), f.data(), cx);
  cx.ops.HcPost(kernels::F32Rows(f.data(), rows, c.dim), kernels::F32Rows(h, rows, s.hc * c.dim),
                kernels::F32Rows(post.data(), rows, s.hc),
                kernels::F32Rows(comb.data(), rows, s.hc * s.hc), s,
                kernels::F32Rows(h, rows, s.hc * c.dim));

  HcPre(h, rows, w.hc_ffn, s, y.data(), post.data(), comb.data(), cx);
  cx.ops.RmsNormBf16(kernels::F32Rows(y.data(), rows, c.dim), w.ffn_norm.data(), eps,
                     kernels::F32Rows(y.data(), rows, c.dim));
  MoeForward(w.ffn, c, y.data(), tokens, rows, f.data(), cx);
  cx.ops.HcPost(kernels::F32Rows(f.data(), rows, c.dim), kernels::F32Rows(h, rows, s.hc * c.dim),
                kernels::F32Rows(post.data(), rows, s.hc),
                kernels::F32Rows(comb.data(), rows, s.hc * s.hc), s,
                kernels::F32Rows(h, rows, s.hc * c.dim));
}

void HeadForward(const HcWeights& hc_head, const std::vector<float>& norm, const WeightMatrix& head,
                 const ModelConfig& c, const float* h, int64_t rows, float* logits,
                 const Compute& cx) {
  const HcShape s = ShapeOf(c);
  std::vector<float> y(static_cast<size_t>(rows * c.dim));
  HcHead(h, rows, hc_head, s, y.data(), cx);
  cx.ops.RmsNormBf16(kernels::F32Rows(y.data(), rows, c.dim), norm.data(),
                     static_cast<float>(c.norm_eps), kernels::F32Rows(y.data(), rows, c.dim));
  Linear(head, y.data(), rows, logits, InputQuant::kNone, Round::kF32, cx);
}

}  // namespace dsagent::engine::forward
