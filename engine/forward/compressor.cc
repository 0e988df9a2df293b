#include "engine/forward/compressor.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::forward {
namespace {

// The call's buffers, in a workspace of the calling thread kept between calls: a decode step
// allocates none of them once warm; buffers over kernels::kWorkspaceKeepBytes (prefill) are freed
// after the call.
enum Slot : int { kKv, kScore, kEntry };
kernels::Workspace& CompressorWorkspace() { return kernels::ThreadWorkspaceFor<Slot>(); }

}  // namespace

void Compress(const CompressorWeights& w, const Rope& rope, float norm_eps, int64_t start,
              const float* x, int64_t rows, CompressorState& st, std::vector<uint16_t>& entries,
              const Compute& cx) {
  kernels::Workspace& ws = CompressorWorkspace();
  float* kv = ws.Get<float>(kKv, rows * st.width);
  float* score = ws.Get<float>(kScore, rows * st.width);
  CompressorProjections(w, x, rows, kv, score, cx);
  CompressProjected(w, rope, norm_eps, start, kv, score, rows, st, entries, cx);
}

void CompressorProjections(const CompressorWeights& w, const float* x, int64_t rows, float* kv,
                           float* score, const Compute& cx) {
  // Exact in both modes: the pooled entries go through FP8/FP4 quantisation (Compute::Exact).
  Linear(w.wkv, x, rows, kv, InputQuant::kNone, Round::kF32, cx.Exact());
  Linear(w.wgate, x, rows, score, InputQuant::kNone, Round::kF32, cx.Exact());
}

void CompressProjected(const CompressorWeights& w, const Rope& rope, float norm_eps, int64_t start,
                       const float* kv, const float* score, int64_t rows, CompressorState& st,
                       std::vector<uint16_t>& entries, const Compute& cx) {
  const int64_t r = w.ratio, d = w.head_dim, width = st.width;
  kernels::Workspace& ws = CompressorWorkspace();
  const int64_t offset = w.overlap ? r : 0;
  float* entry = ws.Get<float>(kEntry, d);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t pos = start + i;
    const int64_t slot = offset + pos % r;
    cx.ops.CompressorWriteSlot(kernels::F32Rows(kv + i * width, 1, width),
                               kernels::F32Rows(score + i * width, 1, width),
                               kernels::F32Rows(w.ape.data() + (pos % r) * width, 1, width), slot,
                               kernels::F32Rows(st.kv.data(), st.slots, width),
                               kernels::F32Rows(st.score.data(), st.slots, width));
    if ((pos + 1) % r != 0) continue;
    if (st.keep_before_pool && i == rows - 1) {
      st.kv_before_pool = st.kv;
      st.score_before_pool = st.score;
    }
    cx.ops.CompressorPool(kernels::F32Rows(st.kv.data(), st.slots, width),
                          kernels::F32Rows(st.score.data(), st.slots, width), r, w.overlap,
                          kernels::F32Rows(entry, 1, d));
    if (w.overlap) {  // this block becomes the previous one
      std::copy(st.kv.begin() + r * width, st.kv.end(), st.kv.begin());
      std::copy(st.score.begin() + r * width, st.score.end(), st.score.begin());
    }
    // The current block's slots are rewritten before the next pooling reads them; resetting them
    // to the empty values keeps the state canonical (what a fresh state holds), so states at
    // block boundaries are equal however they were reached and compress well on disk (kv/).
    std::fill(st.kv.begin() + offset * width, st.kv.end(), 0.0f);
    std::fill(st.score.begin() + offset * width, st.score.end(),
              -std::numeric_limits<float>::infinity());
    cx.ops.RoundToBf16(kernels::F32Rows(entry, 1, d));
    cx.ops.RmsNormBf16(kernels::F32Rows(entry, 1, d), w.norm.data(), norm_eps,
                       kernels::F32Rows(entry, 1, d));
    const int64_t entry_pos = pos + 1 - r;
    cx.ops.RopeRotate(kernels::F32Rows(entry, 1, d), rope.frequencies(),
                      std::span<const int64_t>(&entry_pos, 1), /*inverse=*/false);
    if (w.rotate) {
      cx.ops.HadamardBf16(kernels::F32Rows(entry, 1, d));
      cx.ops.ActQuantFp4(kernels::F32Rows(entry, 1, d), 32);
    } else {
      cx.ops.ActQuantFp8(kernels::F32Rows(entry, 1, d - rope.dims()), 64);
    }
    const size_t end = entries.size();
    entries.resize(end + static_cast<size_t>(d));  // the state's growth: one entry per block
    cx.ops.ToBf16Bits(kernels::F32Rows(entry, 1, d),
                      kernels::Bf16BitRows(entries.data() + end, 1, d));
  }
  ws.Trim(kernels::kWorkspaceKeepBytes);
}

}  // namespace dsagent::engine::forward
