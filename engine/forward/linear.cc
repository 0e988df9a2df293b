#include "engine/forward/linear.h"

namespace dsagent::engine::forward {

kernels::WeightProductJob LinearJob(const WeightMatrix& w, const LinearArgs& a, const Compute& cx) {
  const int64_t k = w.cols;
  const int64_t out_rows = a.out_rows < 0 ? w.rows - a.out_begin : a.out_rows;
  kernels::WeightProductJob job;
  job.w = w.view();
  job.args.x = kernels::F32Rows(a.x, a.rows, k, a.x_stride ? a.x_stride : k);
  job.args.y = kernels::F32Rows(a.y, a.rows, out_rows, a.y_stride ? a.y_stride : out_rows);
  job.args.out_begin = a.out_begin;
  job.args.input = a.quant;
  job.args.round = a.round;
  job.args.numerics = cx.numerics;
  return job;
}

void Linear(const WeightMatrix& w, const LinearArgs& a, const Compute& cx) {
  const int64_t out_rows = a.out_rows < 0 ? w.rows - a.out_begin : a.out_rows;
  if (a.rows <= 0 || out_rows <= 0) return;
  const kernels::WeightProductJob job = LinearJob(w, a, cx);
  cx.ops.WeightProduct(job.w, job.args);
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
