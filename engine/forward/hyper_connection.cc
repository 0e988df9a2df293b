#include "engine/forward/hyper_connection.h"

#include "engine/forward/linear.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::forward {
namespace {

// The mixes, in a workspace of the calling thread kept between calls (a decode step allocates
// nothing here once warm); a long prefill's buffer over kernels::kWorkspaceKeepBytes is freed after
// the call.
enum Slot : int { kMixes };
kernels::Workspace& HcWorkspace() { return kernels::ThreadWorkspaceFor<Slot>(); }

// mixes [rows, fn.rows] = x_flat . fn^T, x_flat = the hc*dim streams.
float* MixProducts(const float* h, int64_t rows, const WeightMatrix& fn, const Compute& cx) {
  float* mixes = HcWorkspace().Get<float>(kMixes, rows * fn.rows);
  // Exact in both modes: the mixes feed the Sinkhorn iterations (Compute::Exact).
  Linear(fn, h, rows, mixes, InputQuant::kNone, Round::kF32, cx.Exact());
  return mixes;
}

}  // namespace

void HcPre(const float* h, int64_t rows, const HcWeights& w, const HcShape& s, float* y,
           float* post, float* comb, const Compute& cx) {
  const int64_t m = w.fn.rows, n = s.hc * s.dim;
  float* mixes = MixProducts(h, rows, w.fn, cx);
  cx.ops.HcPre(kernels::F32Rows(h, rows, n), kernels::F32Rows(mixes, rows, m), w.scale.data(),
               w.base.data(), s, kernels::F32Rows(y, rows, s.dim),
               kernels::F32Rows(post, rows, s.hc), kernels::F32Rows(comb, rows, s.hc * s.hc));
  HcWorkspace().Trim(kernels::kWorkspaceKeepBytes);
}

void HcHead(const float* h, int64_t rows, const HcWeights& w, const HcShape& s, float* y,
            const Compute& cx) {
  const int64_t m = w.fn.rows, n = s.hc * s.dim;
  float* mixes = MixProducts(h, rows, w.fn, cx);
  cx.ops.HcHead(kernels::F32Rows(h, rows, n), kernels::F32Rows(mixes, rows, m), w.scale.data(),
                w.base.data(), s, kernels::F32Rows(y, rows, s.dim));
  HcWorkspace().Trim(kernels::kWorkspaceKeepBytes);
}

}  // namespace dsagent::engine::forward
