#include "engine/kernels/cpu/weight_product.h"

#include <algorithm>
#include <vector>

#include "engine/kernels/cpu/weight_dequant.h"
#include "engine/kernels/cpu/weight_dot_f32.h"
#include "engine/kernels/cpu_isa.h"
#include "engine/kernels/number_formats.h"

namespace dsagent::engine::kernels::cpu {
namespace {

inline float RoundTo(double v, bool bf16) { return bf16 ? RoundBf16(v) : static_cast<float>(v); }

// Products with at most this many input rows read each weight row straight from its stored bytes
// once per input row (fused dequantise-and-dot, the decode path); larger ones dequantise panels of
// weight rows once and reuse them for every input row (the prefill path).
constexpr int64_t kFusedMaxRows = 4;

// Per-thread scratch reused across calls, so the hot path does not allocate. The calling thread's
// input fields hold the prepared inputs, which the pool's tasks then read (the exact prefill's
// x64 is filled by a loop of its own, each task its input rows); every task (the caller's
// included) writes only the panel fields of its own thread's scratch.
struct Scratch {
  std::vector<DotInputF32> f32_inputs;  // fast numerics: one prepared input per row
  std::vector<DotInput> fused_inputs;   // decode: one prepared input per row
  std::vector<double> x64;              // prefill: the input rows as doubles
  std::vector<double> panel;            // prefill task: weight rows as doubles
  std::vector<double> dots;             // prefill task: a panel's results, input-major
  std::vector<int64_t> task_ends;       // WeightProducts: each task's end in the joined rows
  std::vector<int64_t> input_begins;    // WeightProducts: each task's first prepared input
};
Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// The fast numerics (fp32, weight_dot_f32.h), decode and prefill alike: every output is the same
// kernel call on the same bytes, so results do not depend on the row count, the threads or the
// tiling (prefill-then-decode equals one prefill). Tasks own ranges of output rows and walk them
// in tiles of input rows x weight rows that stay in cache.

// Output rows [begin, end) (relative to a.out_begin) of one product, its inputs prepared.
void FastRowRange(const WeightRows& rows, const WeightProductRows& a, const DotInputF32* inputs,
                  CpuIsa isa, int64_t begin, int64_t end) {
  constexpr int64_t kInputTile = 64, kWeightTile = 32;
  float dots[kInputTile * kWeightTile];
  // Weight tiles outside, input tiles inside: a tile of weight rows is read from memory once
  // and stays in cache for every input row (the inputs are the smaller operand). Input tiles
  // of 64 rows (a prefill chunk): the kernel converts FP8/FP4 rows once per call for all of
  // them (16 left a tenth of the GEMM in conversions; bench/gemm_bench).
  for (int64_t o0 = begin; o0 < end; o0 += kWeightTile) {
    const int64_t n = std::min(kWeightTile, end - o0);
    for (int64_t t0 = 0; t0 < a.rows; t0 += kInputTile) {
      const int64_t t1 = std::min(a.rows, t0 + kInputTile);
      WeightRowDotsF32Batch(isa, rows, a.out_begin + o0, n, inputs + t0, t1 - t0, dots,
                            kWeightTile);
      for (int64_t t = t0; t < t1; ++t) {
        const float* d = dots + (t - t0) * kWeightTile;
        float* yt = a.y + t * a.y_stride + o0;
        if (a.round_bf16) {
          for (int64_t i = 0; i < n; ++i) yt[i] = RoundBf16(d[i]);
        } else {
          std::copy(d, d + n, yt);
        }
      }
    }
  }
}

// The input rows of a product in the kernel's form (FP4 rows also split into even and odd
// columns), into inputs[0, a.rows).
void PrepareInputs(const WeightRows& rows, const WeightProductRows& a, DotInputF32* inputs) {
  const bool split = rows.format == WeightFormat::kFP4;
  for (int64_t t = 0; t < a.rows; ++t) inputs[t].Prepare(a.x + t * a.x_stride, rows.cols, split);
}

void ProductFast(ThreadPool& pool, const WeightRows& rows, const WeightProductRows& a, CpuIsa isa,
                 Scratch& scratch) {
  std::vector<DotInputF32>& inputs = scratch.f32_inputs;
  if (inputs.size() < static_cast<size_t>(a.rows)) inputs.resize(static_cast<size_t>(a.rows));
  PrepareInputs(rows, a, inputs.data());
  const int64_t grain = std::max<int64_t>(1, 65536 / (rows.cols * a.rows));
  pool.ParallelFor(a.out_rows, grain, [&](int64_t begin, int64_t end) {
    FastRowRange(rows, a, inputs.data(), isa, begin, end);
  });
}

// Several fast products as one loop over their joined output rows: a task's range may cover the
// end of one product and the start of the next.
void ProductsFast(ThreadPool& pool, std::span<const WeightProductTask> tasks, CpuIsa isa,
                  Scratch& scratch) {
  scratch.task_ends.clear();
  scratch.input_begins.clear();
  int64_t total_inputs = 0, total_rows = 0;
  double macs = 0;
  for (const WeightProductTask& t : tasks) {
    const bool empty = t.rows.rows <= 0 || t.rows.out_rows <= 0;
    scratch.input_begins.push_back(total_inputs);
    total_inputs += empty ? 0 : t.rows.rows;
    total_rows += empty ? 0 : t.rows.out_rows;
    scratch.task_ends.push_back(total_rows);
    if (!empty) macs += static_cast<double>(t.rows.rows * t.w.cols * t.rows.out_rows);
  }
  if (total_rows == 0) return;
  std::vector<DotInputF32>& inputs = scratch.f32_inputs;
  if (inputs.size() < static_cast<size_t>(total_inputs))
    inputs.resize(static_cast<size_t>(total_inputs));
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].rows.rows > 0 && tasks[i].rows.out_rows > 0)
      PrepareInputs(tasks[i].w, tasks[i].rows, inputs.data() + scratch.input_begins[i]);
  }
  // Ranges of at least ~64k multiply-adds, as for one product.
  const int64_t grain =
      std::max<int64_t>(1, static_cast<int64_t>(65536.0 * static_cast<double>(total_rows) / macs));
  pool.ParallelFor(total_rows, grain, [&](int64_t begin, int64_t end) {
    int64_t start = 0;
    for (size_t i = 0; i < tasks.size() && start < end; ++i) {
      const int64_t stop = scratch.task_ends[i];
      const int64_t lo = std::max(begin, start), hi = std::min(end, stop);
      if (lo < hi) {
        FastRowRange(tasks[i].w, tasks[i].rows, inputs.data() + scratch.input_begins[i], isa,
                     lo - start, hi - start);
      }
      start = stop;
    }
  });
}

// Decode, exact: each weight row is read once per input row, straight from the checkpoint.
void ProductExactFused(ThreadPool& pool, const WeightRows& rows, const WeightProductRows& a,
                       CpuIsa isa, Scratch& scratch) {
  const int64_t k = rows.cols;
  std::vector<DotInput>& inputs = scratch.fused_inputs;
  if (inputs.size() < static_cast<size_t>(a.rows)) inputs.resize(static_cast<size_t>(a.rows));
  for (int64_t t = 0; t < a.rows; ++t) {
    inputs[static_cast<size_t>(t)].Prepare(a.x + t * a.x_stride, k);
  }
  constexpr int64_t kChunk = 64;
  // Tasks of at least ~64k multiply-adds: small products stay on the caller.
  const int64_t grain = std::max<int64_t>(1, 65536 / (k * a.rows));
  pool.ParallelFor(a.out_rows, grain, [&](int64_t begin, int64_t end) {
    double dots[kChunk];
    for (int64_t o0 = begin; o0 < end; o0 += kChunk) {
      const int64_t n = std::min(kChunk, end - o0);
      for (int64_t t = 0; t < a.rows; ++t) {
        WeightRowDots(isa, rows, a.out_begin + o0, n, inputs[static_cast<size_t>(t)], dots);
        float* yt = a.y + t * a.y_stride + o0;
        for (int64_t i = 0; i < n; ++i) yt[i] = RoundTo(dots[i], a.round_bf16);
      }
    }
  });
}

// Prefill, exact: tasks own ranges of output rows; each dequantises its weight rows once, in
// panels of doubles that stay in L2, and takes every input row's dot product with them (DotsF64:
// register tiles on AVX-512, the same bits as one DotF64 per pair).
void ProductExactPanels(ThreadPool& pool, const WeightRows& rows, const WeightProductRows& a,
                        CpuIsa isa, Scratch& scratch) {
  const int64_t k = rows.cols;
  // The input rows as doubles, converted in parallel (every task then reads all of them): on
  // the caller alone the workers waited for it.
  scratch.x64.resize(static_cast<size_t>(a.rows * k));
  double* x64 = scratch.x64.data();
  pool.ParallelFor(a.rows, std::max<int64_t>(1, 16384 / k), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* xt = a.x + t * a.x_stride;
      std::copy(xt, xt + k, x64 + t * k);
    }
  });
  // Panels in whole register tiles whose columns of one DotsF64 pass take up to 384 KB (12 rows
  // of 4096 columns): with a tile of input rows (4 x 32 KB) they stay in a 1 MB L2 while the
  // tiles pass over them.
  constexpr int64_t kPanelBytes = 384 * 1024;
  const int64_t pass_cols = std::min(k, kDotsF64PassCols);
  const int64_t panel =
      std::max<int64_t>(1, kPanelBytes / (8 * pass_cols) / kDotsF64TileRows) * kDotsF64TileRows;
  const int64_t grain = std::min<int64_t>(panel, std::max<int64_t>(1, 65536 / (k * a.rows)));
  pool.ParallelFor(a.out_rows, grain, [&](int64_t begin, int64_t end) {
    Scratch& ps = ThreadScratch();
    const int64_t panel_rows = std::min(panel, end - begin);
    ps.panel.resize(static_cast<size_t>(panel_rows * k));
    ps.dots.resize(static_cast<size_t>(panel_rows * a.rows));
    for (int64_t p0 = begin; p0 < end; p0 += panel) {
      const int64_t n = std::min(end, p0 + panel) - p0;
      for (int64_t o = 0; o < n; ++o) {
        DequantRowF64(isa, rows, a.out_begin + p0 + o, ps.panel.data() + o * k);
      }
      DotsF64(isa, ps.panel.data(), k, n, x64, k, a.rows, k, ps.dots.data(), n);
      for (int64_t t = 0; t < a.rows; ++t) {
        const double* d = ps.dots.data() + t * n;
        float* yt = a.y + t * a.y_stride + p0;
        for (int64_t o = 0; o < n; ++o) yt[o] = RoundTo(d[o], a.round_bf16);
      }
    }
  });
}

}  // namespace

void WeightProduct(ThreadPool& pool, const WeightRows& w, const WeightProductRows& a,
                   Numerics numerics) {
  if (a.rows <= 0 || a.out_rows <= 0) return;
  const CpuIsa isa = ActiveCpuIsa();
  Scratch& scratch = ThreadScratch();
  if (numerics == Numerics::kFast) {
    ProductFast(pool, w, a, isa, scratch);
  } else if (a.rows <= kFusedMaxRows) {
    ProductExactFused(pool, w, a, isa, scratch);
  } else {
    ProductExactPanels(pool, w, a, isa, scratch);
  }
}

void WeightProducts(ThreadPool& pool, std::span<const WeightProductTask> tasks, Numerics numerics) {
  // Joined only while every product is decode-sized: a product of many input rows amortises its
  // own loop, and joining them kept every product's prepared inputs (tens of KB a row) alive at
  // once, which made a 128-token prefill's MoE 5-10% slower (measured, decode_bench).
  bool small = numerics == Numerics::kFast;
  for (const WeightProductTask& t : tasks) small = small && t.rows.rows <= kJoinedMaxRows;
  if (small) {
    ProductsFast(pool, tasks, ActiveCpuIsa(), ThreadScratch());
    return;
  }
  for (const WeightProductTask& t : tasks) WeightProduct(pool, t.w, t.rows, numerics);
}

}  // namespace dsagent::engine::kernels::cpu
