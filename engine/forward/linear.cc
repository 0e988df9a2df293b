#include "engine/forward/linear.h"

#include <algorithm>
#include <vector>

#include "engine/forward/numerics.h"
#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cpu/weight_dot_f32.h"
#include "engine/kernels/cpu_isa.h"

namespace dsagent::engine::forward {
namespace {

inline float RoundTo(double v, Round r) {
  return r == Round::kBF16 ? RoundBf16(v) : static_cast<float>(v);
}

// Products with at most this many input rows read each weight row straight from its stored bytes
// once per input row (fused dequantise-and-dot, the decode path); larger ones dequantise panels of
// weight rows once and reuse them for every input row (the prefill path).
constexpr int64_t kFusedMaxRows = 4;

// Per-thread scratch reused across calls, so the hot path does not allocate. The calling thread
// fills the input fields, which the pool's tasks then read; every task (the caller's included)
// writes only the panel fields of its own thread's scratch.
struct Scratch {
  std::vector<float> quantised;                  // FP8-quantised input rows
  std::vector<kernels::DotInputF32> f32_inputs;  // fast numerics: one prepared input per row
  std::vector<kernels::DotInput> fused_inputs;   // decode: one prepared input per row
  std::vector<double> x64;                       // prefill: the input rows as doubles
  std::vector<float> row;                        // prefill task: one dequantised weight row
  std::vector<double> panel;                     // prefill task: weight rows as doubles
};
Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// The fast numerics (fp32, kernels/cpu/weight_dot_f32.h), decode and prefill alike: every output
// is the same kernel call on the same bytes, so results do not depend on the row count, the
// threads or the tiling (prefill-then-decode equals one prefill). Tasks own ranges of output rows
// and walk them in tiles of input rows x weight rows that stay in cache.
void LinearFast(const WeightMatrix& w, const float* x, int64_t xs, const LinearArgs& a,
                int64_t out_rows, int64_t y_stride, kernels::CpuIsa isa, Scratch& scratch,
                const Compute& cx) {
  const int64_t k = w.cols;
  std::vector<kernels::DotInputF32>& inputs = scratch.f32_inputs;
  if (inputs.size() < static_cast<size_t>(a.rows)) inputs.resize(static_cast<size_t>(a.rows));
  const bool split = w.format == WeightFormat::kFP4;
  for (int64_t t = 0; t < a.rows; ++t) inputs[static_cast<size_t>(t)].Prepare(x + t * xs, k, split);
  const kernels::WeightRows rows = w.rows_view();
  constexpr int64_t kInputTile = 64, kWeightTile = 32;
  const int64_t grain = std::max<int64_t>(1, 65536 / (k * a.rows));
  cx.pool.ParallelFor(out_rows, grain, [&](int64_t begin, int64_t end) {
    float dots[kInputTile * kWeightTile];
    // Weight tiles outside, input tiles inside: a tile of weight rows is read from memory once
    // and stays in cache for every input row (the inputs are the smaller operand). Input tiles
    // of 64 rows (a prefill chunk): the kernel converts FP8/FP4 rows once per call for all of
    // them (16 left a tenth of the GEMM in conversions; bench/gemm_bench).
    for (int64_t o0 = begin; o0 < end; o0 += kWeightTile) {
      const int64_t n = std::min(kWeightTile, end - o0);
      for (int64_t t0 = 0; t0 < a.rows; t0 += kInputTile) {
        const int64_t t1 = std::min(a.rows, t0 + kInputTile);
        kernels::WeightRowDotsF32Batch(isa, rows, a.out_begin + o0, n, inputs.data() + t0, t1 - t0,
                                       dots, kWeightTile);
        for (int64_t t = t0; t < t1; ++t) {
          const float* d = dots + (t - t0) * kWeightTile;
          float* yt = a.y + t * y_stride + o0;
          if (a.round == Round::kBF16) {
            for (int64_t i = 0; i < n; ++i) yt[i] = RoundBf16(d[i]);
          } else {
            std::copy(d, d + n, yt);
          }
        }
      }
    }
  });
}

}  // namespace

void Linear(const WeightMatrix& w, const LinearArgs& a, const Compute& cx) {
  const int64_t k = w.cols;
  const int64_t x_stride = a.x_stride ? a.x_stride : k;
  const int64_t out_rows = a.out_rows < 0 ? w.rows - a.out_begin : a.out_rows;
  const int64_t y_stride = a.y_stride ? a.y_stride : out_rows;
  if (a.rows <= 0 || out_rows <= 0) return;
  const kernels::CpuIsa isa = kernels::ActiveCpuIsa();
  Scratch& scratch = ThreadScratch();

  // The FP8-quantised copy of the input (reference act_quant, blocks of 128 along K).
  const float* x = a.x;
  int64_t xs = x_stride;
  if (a.quant == InputQuant::kFp8Per128) {
    scratch.quantised.resize(static_cast<size_t>(a.rows * k));
    for (int64_t t = 0; t < a.rows; ++t) {
      std::copy(a.x + t * x_stride, a.x + t * x_stride + k, scratch.quantised.data() + t * k);
    }
    cx.ops.ActQuantFp8(kernels::F32Rows(scratch.quantised.data(), a.rows, k), 128);
    x = scratch.quantised.data();
    xs = k;
  }
  if (cx.numerics == kernels::Numerics::kFast) {
    LinearFast(w, x, xs, a, out_rows, y_stride, isa, scratch, cx);
    return;
  }

  if (a.rows <= kFusedMaxRows) {
    // Decode: each weight row is read once per input row, straight from the checkpoint.
    std::vector<kernels::DotInput>& inputs = scratch.fused_inputs;
    if (inputs.size() < static_cast<size_t>(a.rows)) inputs.resize(static_cast<size_t>(a.rows));
    for (int64_t t = 0; t < a.rows; ++t) inputs[static_cast<size_t>(t)].Prepare(x + t * xs, k);
    const kernels::WeightRows rows = w.rows_view();
    constexpr int64_t kChunk = 64;
    // Tasks of at least ~64k multiply-adds: small products stay on the caller.
    const int64_t grain = std::max<int64_t>(1, 65536 / (k * a.rows));
    cx.pool.ParallelFor(out_rows, grain, [&](int64_t begin, int64_t end) {
      double dots[kChunk];
      for (int64_t o0 = begin; o0 < end; o0 += kChunk) {
        const int64_t n = std::min(kChunk, end - o0);
        for (int64_t t = 0; t < a.rows; ++t) {
          kernels::WeightRowDots(isa, rows, a.out_begin + o0, n, inputs[static_cast<size_t>(t)],
                                 dots);
          float* yt = a.y + t * y_stride + o0;
          for (int64_t i = 0; i < n; ++i) yt[i] = RoundTo(dots[i], a.round);
        }
      }
    });
    return;
  }

  // Prefill: tasks own ranges of output rows; each dequantises its weight rows once, in panels
  // of doubles that stay in cache, and takes every input row's dot product with them.
  scratch.x64.resize(static_cast<size_t>(a.rows * k));
  for (int64_t t = 0; t < a.rows; ++t) {
    for (int64_t i = 0; i < k; ++i) scratch.x64[static_cast<size_t>(t * k + i)] = x[t * xs + i];
  }
  const double* x64 = scratch.x64.data();
  constexpr int64_t kPanelBytes = 128 * 1024;
  const int64_t panel = std::max<int64_t>(1, kPanelBytes / (8 * k));
  const int64_t grain = std::min<int64_t>(panel, std::max<int64_t>(1, 65536 / (k * a.rows)));
  cx.pool.ParallelFor(out_rows, grain, [&](int64_t begin, int64_t end) {
    Scratch& ps = ThreadScratch();
    ps.row.resize(static_cast<size_t>(k));
    ps.panel.resize(static_cast<size_t>(std::min(panel, end - begin) * k));
    for (int64_t p0 = begin; p0 < end; p0 += panel) {
      const int64_t p1 = std::min(end, p0 + panel);
      for (int64_t o = p0; o < p1; ++o) {
        w.DequantRow(a.out_begin + o, ps.row.data());
        std::copy(ps.row.begin(), ps.row.end(), ps.panel.begin() + (o - p0) * k);
      }
      for (int64_t t = 0; t < a.rows; ++t) {
        const double* xt = x64 + t * k;
        float* yt = a.y + t * y_stride;
        for (int64_t o = p0; o < p1; ++o) {
          yt[o] = RoundTo(kernels::DotF64(isa, xt, ps.panel.data() + (o - p0) * k, k), a.round);
        }
      }
    }
  });
}

void Linear(const WeightMatrix& w, const float* x, int64_t rows, float* y, InputQuant quant,
            Round round, const Compute& cx) {
  LinearArgs a;
  a.x = x;
  a.rows = rows;
  a.y = y;
  a.quant = quant;
  a.round = round;
  Linear(w, a, cx);
}

}  // namespace dsagent::engine::forward
