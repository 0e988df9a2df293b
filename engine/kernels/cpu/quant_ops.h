// The CPU kernels of the activation quantisers (reference kernel.py act_quant / fp4_act_quant,
// applied as quantise -> dequantise on float arrays with power-of-two ue8m0 scales) and of the
// indexer's Walsh-Hadamard rotation. The outputs are exact in bf16. Ops::ActQuantFp8,
// ActQuantFp4 and HadamardBf16 (kernels/ops.h) on the CPU; the CUDA kernels' twins
// (kernels/cuda/ops.h ActQuant, kernels/cuda/attention_ops.h HadamardRotate).
//
// Thread-safety: pure functions over caller-owned memory (scratch: the thread's Workspace).
#pragma once

#include <cstdint>

namespace dsagent::engine::kernels::cpu {

// FP8 e4m3 per block of `block` consecutive values (n % block == 0): s = Fp8BlockScale(amax),
// x <- e4m3_rne(x / s) * s. Used before every FP8/FP4-weight GEMM (block 128) and on the
// non-RoPE dims of window and compressed KV (block 64).
void QuantizeFp8Blocks(float* x, int64_t n, int64_t block);

// FP4 e2m1 per block of `block` values: s = Fp4BlockScale(amax), x <- e2m1_rne(x / s) * s.
// Used on indexer queries and keys (block 32).
void QuantizeFp4Blocks(float* x, int64_t n, int64_t block);

// x <- bf16(H x * n^-0.5) with H the Sylvester (natural order) Hadamard matrix; n a power of two.
void HadamardRotateBf16(float* x, int64_t n);

}  // namespace dsagent::engine::kernels::cpu
