#include "engine/kernels/cpu/cpu_ops.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu/attention_ops.h"
#include "engine/kernels/cpu/compressor_pool.h"
#include "engine/kernels/cpu/elementwise_ops.h"
#include "engine/kernels/cpu/head_norm.h"
#include "engine/kernels/cpu/indexer_ops.h"
#include "engine/kernels/cpu/mixing_ops.h"
#include "engine/kernels/cpu/moe_ops.h"
#include "engine/kernels/cpu/quant_ops.h"
#include "engine/kernels/cpu/rms_norm.h"
#include "engine/kernels/cpu/rope_rotate.h"
#include "engine/kernels/cpu/router.h"
#include "engine/kernels/cpu/weight_dequant.h"
#include "engine/kernels/cpu/weight_product.h"
#include "engine/kernels/cpu/workspace_slots.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::kernels::cpu {
namespace {

// A shape the op cannot take is a programming error in the caller (forward/ builds the views).
// `what` is a literal: the message is built only on failure (a std::string argument would be
// built, and heap-allocated past 15 characters, on every call of every op).
void Require(bool ok, const char* op, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("CpuOps::") + op + ": " + what);
}

bool Contiguous(const ConstView& v) { return v.row_stride() == v.cols; }

// Runs fn(begin, end) over rows [0, rows) of a row-wise op, split over the pool in tasks of at
// least ~16k values: a prefill's many rows go to every thread (serial, these ops were ~5% of a
// fast prefill's wall time, measured with perf), one decode row stays on the caller. Each row is
// computed by one thread with the same arithmetic, so the result does not depend on the split.
template <class Fn>
void OnRows(ThreadPool& pool, int64_t rows, int64_t values_per_row, const Fn& fn) {
  pool.ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, values_per_row)), fn);
}

}  // namespace

namespace {

// A product's checked shape and its rows for cpu::WeightProduct, reading x from `x` (the
// caller's rows or their FP8-quantised copy) with row stride `x_stride`.
WeightProductTask ProductTask(const WeightView& w, const WeightProductArgs& a, const float* x,
                              int64_t x_stride) {
  WeightProductTask t;
  t.w = WeightRows{w.format, w.data, w.scale, w.cols, w.scale_cols};
  t.rows.x = x;
  t.rows.rows = a.x.rows;
  t.rows.x_stride = x_stride;
  t.rows.y = a.y.row<float>(0);
  t.rows.y_stride = a.y.row_stride();
  t.rows.out_begin = a.out_begin;
  t.rows.out_rows = a.y.cols;
  t.rows.round_bf16 = a.round == ProductRound::kBF16;
  return t;
}

void RequireProductShape(const WeightView& w, const WeightProductArgs& a, const char* op) {
  Require(a.x.cols == w.cols && a.y.rows == a.x.rows && a.out_begin >= 0 &&
              a.out_begin + a.y.cols <= w.rows,
          op, "x [rows, W.cols], y [rows, n] with out_begin + n <= W.rows");
}

// The FP8-quantised copy of a product's input (reference act_quant, blocks of 128 along K) into
// `out` [rows, W.cols].
void QuantisedInput(const CpuOps& ops, const WeightView& w, const WeightProductArgs& a,
                    float* out) {
  const int64_t k = w.cols;
  for (int64_t t = 0; t < a.x.rows; ++t) {
    const float* row = a.x.row<const float>(t);
    std::copy(row, row + k, out + t * k);
  }
  ops.ActQuantFp8(F32Rows(out, a.x.rows, k), 128);
}

bool Quantises(const WeightProductArgs& a) {
  return a.input == ProductInput::kFp8Per128 && a.x.rows > 0 && a.y.cols > 0;
}

}  // namespace

void CpuOps::WeightProduct(const WeightView& w, const WeightProductArgs& a) const {
  RequireProductShape(w, a, "WeightProduct");
  if (a.x.rows <= 0 || a.y.cols <= 0) return;
  const float* x = a.x.row<const float>(0);
  int64_t x_stride = a.x.row_stride();
  if (Quantises(a)) {
    float* quantised = ThreadWorkspace().Get<float>(kProductInput, a.x.rows * w.cols);
    QuantisedInput(*this, w, a, quantised);
    x = quantised;
    x_stride = w.cols;
  }
  const WeightProductTask t = ProductTask(w, a, x, x_stride);
  cpu::WeightProduct(pool_, t.w, t.rows, a.numerics);
}

void CpuOps::WeightProducts(std::span<const WeightProductJob> jobs) const {
  if (jobs.empty()) return;
  // One pass needs one numerics mode; a mixed group runs product by product.
  for (const WeightProductJob& j : jobs) {
    if (j.args.numerics != jobs.front().args.numerics) {
      for (const WeightProductJob& each : jobs) WeightProduct(each.w, each.args);
      return;
    }
  }
  int64_t quantised_floats = 0;
  for (const WeightProductJob& j : jobs) {
    RequireProductShape(j.w, j.args, "WeightProducts");
    if (Quantises(j.args)) quantised_floats += j.args.x.rows * j.w.cols;
  }
  Workspace& ws = ThreadWorkspace();
  // Taken before the tasks' slot: a Get may move an earlier slot's buffer only when it grows
  // that same slot.
  float* quantised = ws.Get<float>(kProductInput, quantised_floats);
  auto* tasks = ws.Get<WeightProductTask>(kProductTasks, static_cast<int64_t>(jobs.size()));
  for (size_t i = 0; i < jobs.size(); ++i) {
    const WeightProductJob& j = jobs[i];
    const float* x = j.args.x.rows > 0 ? j.args.x.row<const float>(0) : nullptr;
    int64_t x_stride = j.args.x.row_stride();
    if (Quantises(j.args)) {
      QuantisedInput(*this, j.w, j.args, quantised);
      x = quantised;
      x_stride = j.w.cols;
      quantised += j.args.x.rows * j.w.cols;
    }
    tasks[i] = ProductTask(j.w, j.args, x, x_stride);
  }
  cpu::WeightProducts(pool_, std::span<const WeightProductTask>(tasks, jobs.size()),
                      jobs.front().args.numerics);
}

void CpuOps::EmbedRows(const WeightView& table, const int32_t* ids, View out) const {
  Require(table.cols > 0 && out.cols % table.cols == 0, "EmbedRows", "out [rows, copies * W.cols]");
  if (out.rows == 0) return;
  cpu::EmbedRows(WeightRows{table.format, table.data, table.scale, table.cols, table.scale_cols},
                 ids, out.rows, out.cols / table.cols, out.row<float>(0), out.row_stride());
}

void CpuOps::ActQuantFp8(View x, int64_t block) const {
  Require(block > 0 && x.cols % block == 0, "ActQuantFp8", "columns not a multiple of the block");
  // On the caller alone this was a sixth of a fast prefill.
  OnRows(pool_, x.rows, x.cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) QuantizeFp8Blocks(x.row<float>(r), x.cols, block);
  });
}

void CpuOps::ActQuantFp4(View x, int64_t block) const {
  Require(block > 0 && x.cols % block == 0, "ActQuantFp4", "columns not a multiple of the block");
  OnRows(pool_, x.rows, x.cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) QuantizeFp4Blocks(x.row<float>(r), x.cols, block);
  });
}

void CpuOps::HadamardBf16(View x) const {
  Require(x.cols > 0 && (x.cols & (x.cols - 1)) == 0, "HadamardBf16", "width not a power of two");
  OnRows(pool_, x.rows, x.cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) HadamardRotateBf16(x.row<float>(r), x.cols);
  });
}

void CpuOps::RmsNormBf16(ConstView x, const float* weight, float eps, View y) const {
  Require(y.rows == x.rows && y.cols == x.cols && Contiguous(x) && Contiguous(y), "RmsNormBf16",
          "x and y [rows, cols], contiguous");
  if (x.rows == 0) return;
  OnRows(pool_, x.rows, x.cols, [&](int64_t begin, int64_t end) {
    cpu::RmsNormBf16(x.row<const float>(begin), end - begin, x.cols, weight, eps,
                     y.row<float>(begin));
  });
}

void CpuOps::HeadRmsNormBf16(View x, float eps) const {
  OnRows(pool_, x.rows, x.cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) cpu::HeadRmsNormBf16(x.row<float>(r), x.cols, eps);
  });
}

void CpuOps::RopeRotate(View x, std::span<const float> freqs, std::span<const int64_t> positions,
                        bool inverse) const {
  const int64_t n = static_cast<int64_t>(positions.size());
  Require(n > 0 && x.rows % n == 0, "RopeRotate", "rows not a multiple of the positions");
  Require(2 * static_cast<int64_t>(freqs.size()) <= x.cols, "RopeRotate",
          "rows narrower than RoPE");
  const int64_t group = x.rows / n;
  OnRows(pool_, n, group * x.cols, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      cpu::RopeRotate(x.row<float>(j * group), group, x.row_stride(), x.cols, freqs,
                      positions[static_cast<size_t>(j)], inverse);
    }
  });
}

void CpuOps::SwiGlu(View g, ConstView u, const float* row_weight, float limit) const {
  Require(u.rows == g.rows && u.cols == g.cols && Contiguous(g) && Contiguous(u), "SwiGlu",
          "g and u must be contiguous and of one shape");
  OnRows(pool_, g.rows, g.cols, [&](int64_t begin, int64_t end) {
    SwiGluInPlace(g.row<float>(begin), u.row<const float>(begin), end - begin, g.cols,
                  row_weight != nullptr ? row_weight + begin : nullptr, limit);
  });
}

void CpuOps::CombineExperts(ConstView routed, ConstView shared, const int32_t* ids, int64_t k,
                            View out) const {
  Require(routed.rows == out.rows * k && shared.rows == out.rows && routed.cols == out.cols &&
              shared.cols == out.cols && Contiguous(routed) && Contiguous(shared) &&
              Contiguous(out),
          "CombineExperts", "routed [rows * k, dim], shared and out [rows, dim], contiguous");
  if (out.rows == 0) return;
  OnRows(pool_, out.rows, (k + 1) * out.cols, [&](int64_t begin, int64_t end) {
    cpu::CombineExperts(routed.row<const float>(begin * k), shared.row<const float>(begin),
                        ids + begin * k, end - begin, k, out.cols, out.row<float>(begin));
  });
}

void CpuOps::MoeRoute(View scores, const RouterShape& shape, const float* bias,
                      const int32_t* hash_ids, int32_t* ids, float* weights) const {
  Require(scores.cols == shape.experts && Contiguous(scores) && shape.k <= shape.experts,
          "MoeRoute", "scores [rows, experts], contiguous, k <= experts");
  Require(hash_ids != nullptr || bias != nullptr, "MoeRoute", "a bias or hash ids");
  if (scores.rows == 0) return;
  RouteFromScores(scores.row<float>(0), scores.rows, shape, bias, hash_ids, ids, weights);
}

void CpuOps::GatherHashIds(ConstView table, const int32_t* tokens, View ids) const {
  Require(table.cols == ids.cols && Contiguous(table) && Contiguous(ids), "GatherHashIds",
          "table [vocab, k] and ids [rows, k], contiguous");
  if (ids.rows == 0) return;
  Require(table.type == ElemType::kI64 || table.type == ElemType::kI32, "GatherHashIds",
          "an int32 or int64 table");
  cpu::GatherHashIds(table.data, table.type == ElemType::kI64, table.cols, tokens, ids.rows,
                     ids.row<int32_t>(0));
}

void CpuOps::CompressorPool(ConstView kv_state, ConstView score_state, int64_t ratio, bool overlap,
                            View entry) const {
  const int64_t slots = overlap ? 2 * ratio : ratio;
  Require(ratio > 0 && kv_state.rows >= slots && score_state.rows >= slots &&
              kv_state.cols == score_state.cols &&
              kv_state.cols >= (overlap ? 2 : 1) * entry.cols && entry.rows == 1 &&
              Contiguous(kv_state) && Contiguous(score_state),
          "CompressorPool", "states [slots, width] of one shape, contiguous; entry [1, head_dim]");
  PoolBlock(kv_state.row<const float>(0), score_state.row<const float>(0), kv_state.cols, ratio,
            entry.cols, overlap, entry.row<float>(0));
}

void CpuOps::CompressorWriteSlot(ConstView kv, ConstView score, ConstView ape, int64_t slot,
                                 View kv_state, View score_state) const {
  const int64_t width = kv_state.cols;
  Require(kv.cols == width && score.cols == width && ape.cols == width &&
              score_state.cols == width && slot >= 0 && slot < kv_state.rows &&
              slot < score_state.rows,
          "CompressorWriteSlot", "kv, score, ape [1, width]; states [slots, width], slot < slots");
  WriteCompressorSlot(kv.row<const float>(0), score.row<const float>(0), ape.row<const float>(0),
                      width, kv_state.row<float>(slot), score_state.row<float>(slot));
}

void CpuOps::IndexerScores(ConstView q, const float* head_weights, ConstView keys,
                           View score) const {
  Require(q.cols == keys.cols && Contiguous(q) && Contiguous(keys) && score.rows == 1 &&
              score.cols == keys.rows,
          "IndexerScores", "q [heads, hd] and keys [n, hd] contiguous, score [1, n]");
  const float* qp = q.row<const float>(0);
  const uint16_t* kp = keys.row<const uint16_t>(0);
  float* sp = score.row<float>(0);
  // Entries are independent: a decode step splits them across the threads (each score is
  // computed by one thread with the same arithmetic, so the result does not depend on the split).
  pool_.ParallelFor(keys.rows, 16, [&](int64_t begin, int64_t end) {
    cpu::IndexerScores(qp, head_weights, q.rows, q.cols, kp, begin, end, sp + begin);
  });
}

int64_t CpuOps::StableTopK(ConstView score, int64_t k, int32_t* out) const {
  Require(score.rows == 1 && k >= 0, "StableTopK", "score [1, n], k >= 0");
  return cpu::StableTopK(score.row<const float>(0), score.cols, k, out);
}

void CpuOps::ScaleBf16(View x, float scale) const {
  OnRows(pool_, x.rows, x.cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) cpu::ScaleBf16(x.row<float>(r), x.cols, scale);
  });
}

void CpuOps::RoundToBf16(View x) const {
  OnRows(pool_, x.rows, x.cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) cpu::RoundToBf16(x.row<float>(r), x.cols);
  });
}

void CpuOps::AddBroadcastBf16(ConstView x, View y) const {
  Require(x.rows == y.rows && x.cols > 0 && y.cols % x.cols == 0, "AddBroadcastBf16",
          "x [rows, cols], y [rows, groups * cols]");
  if (x.rows == 0) return;
  OnRows(pool_, x.rows, y.cols, [&](int64_t begin, int64_t end) {
    cpu::AddBroadcastBf16(x.row<const float>(begin), x.row_stride(), end - begin, x.cols,
                          y.cols / x.cols, y.row<float>(begin), y.row_stride());
  });
}

void CpuOps::ToBf16Bits(ConstView x, View bits) const {
  Require(x.rows == bits.rows && x.cols == bits.cols, "ToBf16Bits", "x and bits of one shape");
  OnRows(pool_, x.rows, x.cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      cpu::ToBf16Bits(x.row<const float>(r), x.cols, bits.row<uint16_t>(r));
    }
  });
}

void CpuOps::HcPre(ConstView h, View mixes, const float* scale, const float* base, const HcShape& s,
                   View y, View post, View comb) const {
  const int64_t rows = h.rows, hc = s.hc, m = (2 + hc) * hc;
  Require(h.cols == hc * s.dim && mixes.rows == rows && mixes.cols == m && y.rows == rows &&
              y.cols == s.dim && post.rows == rows && post.cols == hc && comb.rows == rows &&
              comb.cols == hc * hc && Contiguous(h) && Contiguous(mixes) && Contiguous(y) &&
              Contiguous(post) && Contiguous(comb),
          "HcPre",
          "h [rows, hc*dim], mixes [rows, (2+hc)*hc], y [rows, dim], post [rows, hc], comb "
          "[rows, hc*hc], contiguous");
  if (rows == 0) return;
  const float* hp = h.row<const float>(0);
  float* mp = mixes.row<float>(0);
  float* yp = y.row<float>(0);
  float* pp = post.row<float>(0);
  float* cp = comb.row<float>(0);
  pool_.ParallelFor(rows, 16, [&](int64_t begin, int64_t end) {
    ScaleMixes(hp + begin * hc * s.dim, end - begin, m, s, mp + begin * m);
    float* pre = ThreadWorkspace().Get<float>(kHcWeights, hc);
    for (int64_t t = begin; t < end; ++t) {
      SinkhornSplit(mp + t * m, scale, base, s, pre, pp + t * hc, cp + t * hc * hc);
      WeightedStreamSum(hp + t * hc * s.dim, pre, s, yp + t * s.dim);
    }
  });
}

void CpuOps::HcPost(ConstView f, ConstView h, ConstView post, ConstView comb, const HcShape& s,
                    View out) const {
  const int64_t rows = h.rows, hc = s.hc;
  Require(h.cols == hc * s.dim && out.rows == rows && out.cols == h.cols && f.rows == rows &&
              f.cols == s.dim && post.rows == rows && post.cols == hc && comb.rows == rows &&
              comb.cols == hc * hc && Contiguous(h) && Contiguous(out) && Contiguous(f) &&
              Contiguous(post) && Contiguous(comb),
          "HcPost", "f [rows, dim], h and out [rows, hc*dim], post [rows, hc], comb [rows, hc*hc]");
  if (rows == 0) return;
  OnRows(pool_, rows, hc * s.dim, [&](int64_t begin, int64_t end) {
    cpu::HcPost(f.row<const float>(begin), h.row<const float>(begin), post.row<const float>(begin),
                comb.row<const float>(begin), end - begin, s, out.row<float>(begin));
  });
}

void CpuOps::HcHead(ConstView h, View mixes, const float* scale, const float* base,
                    const HcShape& s, View y) const {
  const int64_t rows = h.rows;
  Require(h.cols == s.hc * s.dim && mixes.rows == rows && mixes.cols == s.hc && y.rows == rows &&
              y.cols == s.dim && Contiguous(h) && Contiguous(mixes) && Contiguous(y),
          "HcHead", "h [rows, hc*dim], mixes [rows, hc], y [rows, dim], contiguous");
  if (rows == 0) return;
  OnRows(pool_, rows, s.hc * s.dim, [&](int64_t begin, int64_t end) {
    ScaleMixes(h.row<const float>(begin), end - begin, s.hc, s, mixes.row<float>(begin));
    HcHeadSum(h.row<const float>(begin), mixes.row<const float>(begin), end - begin, scale, base, s,
              y.row<float>(begin));
  });
}

void CpuOps::WriteWindowRing(ConstView kv, int64_t start, View ring) const {
  Require(kv.cols == ring.cols && Contiguous(kv) && Contiguous(ring) && ring.rows > 0,
          "WriteWindowRing", "kv [n, head_dim] and ring [window, head_dim], contiguous");
  if (kv.rows == 0) return;
  cpu::WriteWindowRing(kv.row<const uint16_t>(0), kv.rows, kv.cols, start, ring.row<uint16_t>(0),
                       ring.rows);
}

void CpuOps::SparseAttention(const SparseAttentionArgs& a) const {
  const int64_t heads = a.heads, hd = a.head_dim;
  Require(a.q.cols == heads * hd && a.out.cols == heads * hd && a.out.rows == a.q.rows,
          "SparseAttention", "q and out [rows, heads * head_dim]");
  for (int p = 0; p < a.kv.count; ++p) {
    Require(a.kv.parts[p].cols == hd, "SparseAttention", "KV rows of head_dim");
  }
  // Heads are independent, so a decode step splits them across the threads (each (row, head) is
  // computed by one thread with the same arithmetic).
  pool_.ParallelFor(a.q.rows * heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / heads, h = i % heads;
      const int64_t b = a.list_begin[t];
      SparseAttentionHead(a.q.row<const float>(t) + h * hd, a.kv, a.indices + b,
                          a.list_begin[t + 1] - b, a.sinks[h], hd, a.scale,
                          a.out.row<float>(t) + h * hd);
    }
  });
}

}  // namespace dsagent::engine::kernels::cpu
