#include "engine/forward/block.h"

#include <vector>

#include "engine/forward/attention.h"
#include "engine/forward/hyper_connection.h"
#include "engine/forward/linear.h"
#include "engine/forward/moe.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::forward {
namespace {

// The call's buffers, in a workspace of the calling thread kept between calls (as in
// attention.cc): a decode step allocates none of them once warm; buffers over
// kernels::kWorkspaceKeepBytes (prefill) are freed at the end of the call.
enum Slot : int { kY, kF, kPost, kComb };
kernels::Workspace& BlockWorkspace() { return kernels::ThreadWorkspaceFor<Slot>(); }

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
  kernels::Workspace& ws = BlockWorkspace();
  float* y = ws.Get<float>(kY, rows * c.dim);
  float* f = ws.Get<float>(kF, rows * c.dim);
  float* post = ws.Get<float>(kPost, rows * s.hc);
  float* comb = ws.Get<float>(kComb, rows * s.hc * s.hc);

  // One residual sub-layer: mix the hc streams into y, normalise, body(y) -> f, mix f back into h.
  const auto sublayer = [&](const auto& hc_weights, const std::vector<float>& norm,
                            const auto& body) {
    HcPre(h, rows, hc_weights, s, y, post, comb, cx);
    cx.ops.RmsNormBf16(kernels::F32Rows(y, rows, c.dim), norm.data(), eps,
                       kernels::F32Rows(y, rows, c.dim));
    body();
    cx.ops.HcPost(kernels::F32Rows(f, rows, c.dim), kernels::F32Rows(h, rows, s.hc * c.dim),
                  kernels::F32Rows(post, rows, s.hc), kernels::F32Rows(comb, rows, s.hc * s.hc), s,
                  kernels::F32Rows(h, rows, s.hc * c.dim));
  };
  sublayer(w.hc_attn, w.attn_norm, [&] { AttentionForward(w.attn, c, rope, chunks, y, f, cx); });
  sublayer(w.hc_ffn, w.ffn_norm, [&] { MoeForward(w.ffn, c, y, tokens, rows, f, cx); });
  ws.Trim(kernels::kWorkspaceKeepBytes);
}

void HeadForward(const HcWeights& hc_head, const std::vector<float>& norm, const WeightMatrix& head,
                 const ModelConfig& c, const float* h, int64_t rows, float* logits,
                 const Compute& cx) {
  const HcShape s = ShapeOf(c);
  kernels::Workspace& ws = BlockWorkspace();
  float* y = ws.Get<float>(kY, rows * c.dim);
  HcHead(h, rows, hc_head, s, y, cx);
  cx.ops.RmsNormBf16(kernels::F32Rows(y, rows, c.dim), norm.data(), static_cast<float>(c.norm_eps),
                     kernels::F32Rows(y, rows, c.dim));
  Linear(head, y, rows, logits, InputQuant::kNone, Round::kF32, cx);
  ws.Trim(kernels::kWorkspaceKeepBytes);
}

}  // namespace dsagent::engine::forward
