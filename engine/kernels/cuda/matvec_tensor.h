// The tensor-core products for many activation rows (matvec_tensor.cu), internal to the CUDA
// backend: MatVecRows and MatVecRowGroups take them for a prompt's rows, and the MoE's
// ExpertTensorMatVec for the routed experts' grouped slots, when DSAGENT_CUDA_MATVEC_ROWS=tensor
// (ops.h RowsKernelChoice). Unlike the register-tiled kernel it
// does not give the single-row kernel's bits: its block sums are the tensor cores' fp32 sums, so
// each output is held to the fast contract against the CPU's WeightRowDotsF32 (>= 99.9% of the
// bf16 outputs identical, the rest within 1 ulp), and a prompt's rows no longer give a decode
// step's bits exactly.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/matvec_tiled.h"

namespace dsagent::engine::kernels::cuda {

constexpr int kTensorTileRows = 64;    // weight rows per CTA
constexpr int kTensorTileInputs = 64;  // activation rows per CTA
// Fewer rows than this take the register-tiled kernel: a CTA's MMAs would be mostly padding.
constexpr int64_t kTensorMinInputs = 16;

// Whether the tensor kernel takes this product: BF16, FP8 or FP4 weights of whole 128-column
// blocks, at least kTensorMinInputs activation rows.
bool TensorMatVecTakes(WeightKind kind, int64_t cols, int64_t rows, int64_t inputs);

// RunTiledMatVecGemm's launch (one weight, with `groups`; not an expert set) on the tensor cores.
// Throws CudaError for a launch error or a weight it does not take.
void RunTensorMatVec(const TiledMatVec& m, WeightKind kind, cudaStream_t stream);

// The routed experts' grouped slots (RunTiledExpertGemm's arguments and grid) on the tensor cores:
// CTA (piece, 64-row tile), the piece's up to 8 slots padded to one m16 product. ops.h's
// ExpertTensorMatVec takes it where TensorExpertTakes says yes.
bool TensorExpertTakes(WeightKind kind, int64_t cols, int64_t rows);
void RunTensorExpertMatVec(const ExpertRowsArgs& e, WeightKind kind, cudaStream_t stream);

// How many launches RunTensorMatVec and RunTensorExpertMatVec have queued in this process: the
// tests check with it which kernel a choice reaches (the tensor cores' bf16 outputs are nearly
// always the register-tiled kernel's bits, so bits alone cannot tell).
int64_t TensorLaunches();

// For the tests: one warp's MmaBf16 (mma_bf16.cuh) on a [16][16] and b [16][8] (bf16 bits,
// row-major, device memory) plus c [16][8] into d [16][8], the fragments packed as the PTX ISA
// lays them out.
void RunMmaTile(const uint16_t* a, const uint16_t* b, const float* c, float* d,
                cudaStream_t stream);

}  // namespace dsagent::engine::kernels::cuda
