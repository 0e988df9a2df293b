#include "engine/forward/linear.h"

namespace dsagent::engine::forward {

void Linear(const WeightMatrix& w, const LinearArgs& a, const Compute& cx) {
  const int64_t k = w.cols;
  const int64_t out_rows = a.out_rows < 0 ? w.rows - a.out_begin : a.out_rows;
  if (a.rows <= 0 || out_rows <= 0) return;
  kernels::WeightProductArgs p;
  p.x = kernels::F32Rows(a.x, a.rows, k, a.x_stride ? a.x_stride : k);
  p.y = kernels::F32Rows(a.y, a.rows, out_rows, a.y_stride ? a.y_stride : out_rows);
  p.out_begin = a.out_begin;
  p.input = a.quant;
  p.round = a.round;
  p.numerics = cx.numerics;
  cx.ops.WeightProduct(w.view(), p);
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
