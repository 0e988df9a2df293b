// Dequantising a weight row from its stored bytes (weight_format.h) to float: exact, since every
// stored value times its power-of-two block scale is representable in float. The prefill path of
// the `exact` weight product (weight_product.h) reads its panels through it, and
// forward::WeightMatrix::DequantRow (tests) too; EmbedRows is the embedding lookup
// (Ops::EmbedRows).
//
// Thread-safety: pure functions over caller-owned memory (the lookup tables are built once).
#pragma once

#include <cstdint>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cpu_isa.h"

namespace dsagent::engine::kernels::cpu {

// Values of columns [col_begin, col_end) of row r of `w`.
void DequantRowRange(const WeightRows& w, int64_t r, int64_t col_begin, int64_t col_end,
                     float* out);

// The same values as doubles: columns [col_begin, col_end) of row r, and the whole row r (the
// `exact` prefill's panels, written in place; on AVX-512 16 columns at a time with weight_dot's
// conversions, the blocks those cannot take exactly and the tail through the scalar range).
void DequantRowRangeF64(const WeightRows& w, int64_t r, int64_t col_begin, int64_t col_end,
                        double* out);
void DequantRowF64(CpuIsa isa, const WeightRows& w, int64_t r, double* out);

namespace detail {
void DequantRowF64Avx512(const WeightRows& w, int64_t r, double* out);  // weight_dot_avx512.cc
}  // namespace detail

// The embedding lookup: out row t [copies * w.cols] (row stride out_stride values) gets row
// ids[t] of `w` in each of its `copies` column groups, for t < rows.
void EmbedRows(const WeightRows& w, const int32_t* ids, int64_t rows, int64_t copies, float* out,
               int64_t out_stride);

}  // namespace dsagent::engine::kernels::cpu
