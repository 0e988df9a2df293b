// The reference's activation quantisers, applied as quantise -> dequantise on float arrays
// (reference kernel.py `act_quant` / `fp4_act_quant` with power-of-two ue8m0 scales), and the
// Walsh-Hadamard rotation of the indexer. The outputs are exact in bf16.
#pragma once

#include <cstdint>

namespace dsagent::engine::forward {

// FP8 e4m3 per block of `block` consecutive values (n % block == 0): s = Fp8BlockScale(amax),
// x <- e4m3_rne(x / s) * s. Used before every FP8/FP4-weight GEMM (block 128) and on the
// non-RoPE dims of window and compressed KV (block 64).
void QuantizeFp8Blocks(float* x, int64_t n, int64_t block);

// FP4 e2m1 per block of `block` values: s = Fp4BlockScale(amax), x <- e2m1_rne(x / s) * s.
// Used on indexer queries and keys (block 32).
void QuantizeFp4Blocks(float* x, int64_t n, int64_t block);

// x <- bf16(H x * n^-0.5) with H the Sylvester (natural order) Hadamard matrix; n a power of two.
void HadamardRotateBf16(float* x, int64_t n);

}  // namespace dsagent::engine::forward
