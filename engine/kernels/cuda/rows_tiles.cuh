// The CTA tiles of the products over many activation rows: which weight rows and which activation
// rows a CTA of the register-tiled grids (matvec_gemm.cu) and of the tensor-core grids
// (matvec_tensor.cu) takes, as a GemmTile (matvec_gemm_math.h). Device code for those two files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/expert_groups_math.h"
#include "engine/kernels/cuda/matvec_gemm_math.h"
#include "engine/kernels/cuda/matvec_tiled.h"

namespace dsagent::engine::kernels::cuda {

// CTA (input tile, row tile, group) = blockIdx (x, y, z) of a single weight's grid, whose tiles
// are tile_inputs activation rows by tile_rows weight rows; kPair: a pair's grid (z: which weight,
// TiledMatVec::second), a variant of its own (the pair's selection cost the plain kernel
// registers).
template <bool kPair = false>
__device__ __forceinline__ GemmTile SingleWeightTile(const TiledMatVec& a, int tile_inputs,
                                                     int tile_rows) {
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * tile_inputs;
  const int64_t tile_row0 = static_cast<int64_t>(blockIdx.y) * tile_rows;
  // A pair's grid z picks the weight and output (a reference chosen, the view read once: nvcc
  // 13.0 miscompiled a view assigned on either side of a branch, matvec_gemm.cu); groups' z picks
  // the group.
  const bool second = kPair && blockIdx.z == 1;
  const int64_t g = kPair ? 0 : blockIdx.z;
  const WeightView& w = second ? a.second : a.single;
  GemmTile t;
  t.w = w;
  t.row0 = a.row_begin + g * a.rows + tile_row0;
  t.tile_rows = static_cast<int>(a.rows - tile_row0 < tile_rows ? a.rows - tile_row0 : tile_rows);
  t.inputs = static_cast<int>(a.inputs - m0 < tile_inputs ? a.inputs - m0 : tile_inputs);
  t.x = a.x + g * a.x_group_stride + m0 * a.x_stride;
  t.x_stride = a.x_stride;
  t.y = (second ? a.y_second : a.y) + g * a.y_group_stride + m0 * a.y_stride + tile_row0;
  t.y_stride = a.y_stride;
  t.round_bf16 = a.round_bf16;
  return t;
}

// The view table of CTA blockIdx.z's product (ExpertRowsArgs::views_second): a pointer chosen,
// the view then read from it once (nvcc 13.0 miscompiled a view assigned on either side of a
// branch: matvec_gemm.cu).
__device__ __forceinline__ const WeightView* ExpertProductViews(const ExpertRowsArgs& a) {
  return blockIdx.z == 0 ? a.views : a.views_second;
}

// CTA (piece, row tile, product) = blockIdx (x, y, z) of the routed experts' grid: the piece's
// slots (gathered through the grouping's order) by tile_rows rows of its expert's weight `w`
// (read from ExpertProductViews). The kernel reads the piece and its view itself, once each, and
// returns first for a piece past the count or an expert kept on the host.
__device__ __forceinline__ GemmTile ExpertPieceTile(const ExpertRowsArgs& a,
                                                    const ExpertPiece& piece, const WeightView& w,
                                                    int tile_rows) {
  const int64_t tile_row0 = static_cast<int64_t>(blockIdx.y) * tile_rows;
  GemmTile t;
  t.w = w;
  t.row0 = tile_row0;
  t.tile_rows = static_cast<int>(a.rows - tile_row0 < tile_rows ? a.rows - tile_row0 : tile_rows);
  t.inputs = piece.count;
  t.x = a.x;
  t.x_stride = a.x_stride;
  t.x_row_slots = a.x_row_slots;
  t.y = (blockIdx.z == 0 ? a.y : a.y_second) + tile_row0;
  t.y_stride = a.y_stride;
  t.gather = a.order + piece.begin;
  t.round_bf16 = a.round_bf16;
  return t;
}

}  // namespace dsagent::engine::kernels::cuda
