#include "engine/forward/compressor.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"

namespace dsagent::engine::forward {

void Compress(const CompressorWeights& w, const Rope& rope, float norm_eps, int64_t start,
              const float* x, int64_t rows, CompressorState& st, std::vector<uint16_t>& entries,
              const Compute& cx) {
  const int64_t r = w.ratio, d = w.head_dim, width = st.width;
  std::vector<float> kv(static_cast<size_t>(rows * width)), score(kv.size());
  // Exact in both modes: the pooled entries go through FP8/FP4 quantisation (Compute::Exact).
  Linear(w.wkv, x, rows, kv.data(), InputQuant::kNone, Round::kF32, cx.Exact());
  Linear(w.wgate, x, rows, score.data(), InputQuant::kNone, Round::kF32, cx.Exact());
  const int64_t offset = w.overlap ? r : 0;
  std::vector<float> entry(static_cast<size_t>(d));
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t pos = start + i;
    const int64_t slot = offset + pos % r;
    const float* ape = w.ape.data() + (pos % r) * width;
    for (int64_t c = 0; c < width; ++c) {
      st.kv[static_cast<size_t>(slot * width + c)] = kv[static_cast<size_t>(i * width + c)];
      st.score[static_cast<size_t>(slot * width + c)] =
          score[static_cast<size_t>(i * width + c)] + ape[c];
    }
    if ((pos + 1) % r != 0) continue;
    if (st.keep_before_pool && i == rows - 1) {
      st.kv_before_pool = st.kv;
      st.score_before_pool = st.score;
    }
    cx.ops.CompressorPool(kernels::F32Rows(st.kv.data(), st.slots, width),
                          kernels::F32Rows(st.score.data(), st.slots, width), r, w.overlap,
                          kernels::F32Rows(entry.data(), 1, d));
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
    for (float& v : entry) v = RoundBf16(v);
    cx.ops.RmsNormBf16(kernels::F32Rows(entry.data(), 1, d), w.norm.data(), norm_eps,
                       kernels::F32Rows(entry.data(), 1, d));
    const int64_t entry_pos = pos + 1 - r;
    cx.ops.RopeRotate(kernels::F32Rows(entry.data(), 1, d), rope.frequencies(),
                      std::span<const int64_t>(&entry_pos, 1), /*inverse=*/false);
    if (w.rotate) {
      cx.ops.HadamardBf16(kernels::F32Rows(entry.data(), 1, d));
      cx.ops.ActQuantFp4(kernels::F32Rows(entry.data(), 1, d), 32);
    } else {
      cx.ops.ActQuantFp8(kernels::F32Rows(entry.data(), 1, d - rope.dims()), 64);
    }
    for (float v : entry) entries.push_back(FloatToBf16Bits(v));
  }
}

}  // namespace dsagent::engine::forward
