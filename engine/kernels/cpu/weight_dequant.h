// Dequantising a weight row from its stored bytes (weight_format.h) to float: exact, since every
// stored value times its power-of-two block scale is representable in float. The prefill path of
// the `exact` weight product (weight_product.h) reads its panels through it, and
// forward::WeightMatrix::DequantRow (embeddings, tests) too.
//
// Thread-safety: pure functions over caller-owned memory (the lookup tables are built once).
#pragma once

#include <cstdint>

#include "engine/kernels/cpu/weight_dot.h"

namespace dsagent::engine::kernels::cpu {

// Values of columns [col_begin, col_end) of row r of `w`.
void DequantRowRange(const WeightRows& w, int64_t r, int64_t col_begin, int64_t col_end,
                     float* out);

}  // namespace dsagent::engine::kernels::cpu
