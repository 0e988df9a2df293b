// One warp's tensor-core product D = A B + C of a 16x16 bf16 A, a 16x8 bf16 B and 16x8 fp32
// accumulators: PTX's mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (sm_80 and later).
//
// The fragments, as the PTX ISA lays them out ("Matrix Fragments for mma.m16n8k16 with floating
// point type"), for lane l with g = l / 4 and t = l % 4, each 32-bit word two bf16 values, the
// lower-numbered column (A) or row (B) in the low half:
//   a[0] = A[g][2t, 2t+1]   a[1] = A[g+8][2t, 2t+1]   a[2] = A[g][2t+8, 2t+9]   a[3] = A[g+8][2t+8,
//   2t+9] b[0] = B[2t, 2t+1][g]   b[1] = B[2t+8, 2t+9][g] c[0] = C[g][2t]   c[1] = C[g][2t+1] c[2]
//   = C[g+8][2t]   c[3] = C[g+8][2t+1]   (d the same)
//
// Without a tensor core (the CPU emulator, tests/cuda_emulator, and any host compilation) the
// product is computed from the same fragments through warp shuffles: each lane gathers its two
// rows of A and two columns of B and sums the 16 exact products in k order with fp32 fmas (on
// the emulator, or with DSAGENT_CUDA_EMULATOR_MMA=truncate:B:E a block FMA that cuts its aligned
// terms toward zero, as the published measurements of the tensor cores describe: mma_model.h
// there). The hardware sums in an order (and with an internal precision) of its own, so the two
// agree to fp32 rounding, not bit for bit: code on top of this is held to the fast contract.
// Every lane of the warp must call it with the full mask (as the instruction requires).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// words[i] = `value` of lane first + i, i < kN: kN shuffles, or on the emulator one wait
// (WarpGather; a wait per shuffle was most of an emulated tensor-core kernel's time).
template <int kN>
__device__ __forceinline__ void LaneWords(uint64_t value, int first, uint64_t (&words)[kN]) {
#if defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  const uint64_t* all = ::dsagent_emu::WarpGather(0xffffffffu, value);
  for (int i = 0; i < kN; ++i) words[i] = all[first + i];
#else
  for (int i = 0; i < kN; ++i) words[i] = __shfl_sync(0xffffffffu, value, first + i);
#endif
}

// The warp's product by shuffles, for any build (the emulator's MmaBf16, where the shuffles are
// one wait per fragment word pair, and the reference a device test may hold the tensor cores to).
__device__ inline void MmaBf16ByShuffles(float (&d)[4], const uint32_t (&a)[4],
                                         const uint32_t (&b)[2], const float (&c)[4]) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int g = lane >> 2, t = lane & 3;
  const uint64_t a01 = static_cast<uint64_t>(a[0]) | (static_cast<uint64_t>(a[1]) << 32);
  const uint64_t a23 = static_cast<uint64_t>(a[2]) | (static_cast<uint64_t>(a[3]) << 32);
  const uint64_t b01 = static_cast<uint64_t>(b[0]) | (static_cast<uint64_t>(b[1]) << 32);
  // Row g (and g + 8) of A, k = 0..15: lane 4g + s holds columns 2s, 2s+1 (words 0 and 1) and
  // 2s+8, 2s+9 (words 2 and 3). Columns 2t and 2t + 1 of B: lane 4n + s holds rows 2s, 2s+1 and
  // 2s+8, 2s+9 of column n (n = 2t: lanes 8t..8t+3, n = 2t + 1: the next 4).
  uint64_t a_lo[4], a_hi[4], b_cols[8];
  LaneWords(a01, 4 * g, a_lo);
  LaneWords(a23, 4 * g, a_hi);
  LaneWords(b01, 8 * t, b_cols);
  float row_lo[16], row_hi[16], col0[16], col1[16];
  for (int s = 0; s < 4; ++s) {
    const uint64_t lo = a_lo[s], hi = a_hi[s], n0 = b_cols[s], n1 = b_cols[4 + s];
    const uint32_t words_lo[2] = {static_cast<uint32_t>(lo), static_cast<uint32_t>(lo >> 32)};
    const uint32_t words_hi[2] = {static_cast<uint32_t>(hi), static_cast<uint32_t>(hi >> 32)};
    for (int e = 0; e < 2; ++e) {
      // words_lo[0]: row g, k 2s+e; words_lo[1]: row g+8; words_hi: the same at k + 8.
      row_lo[2 * s + e] = Bf16ToFloat(static_cast<uint16_t>(words_lo[0] >> (16 * e)));
      row_hi[2 * s + e] = Bf16ToFloat(static_cast<uint16_t>(words_lo[1] >> (16 * e)));
      row_lo[2 * s + 8 + e] = Bf16ToFloat(static_cast<uint16_t>(words_hi[0] >> (16 * e)));
      row_hi[2 * s + 8 + e] = Bf16ToFloat(static_cast<uint16_t>(words_hi[1] >> (16 * e)));
      col0[2 * s + e] = Bf16ToFloat(static_cast<uint16_t>(n0 >> (16 * e)));
      col0[2 * s + 8 + e] = Bf16ToFloat(static_cast<uint16_t>(n0 >> (32 + 16 * e)));
      col1[2 * s + e] = Bf16ToFloat(static_cast<uint16_t>(n1 >> (16 * e)));
      col1[2 * s + 8 + e] = Bf16ToFloat(static_cast<uint16_t>(n1 >> (32 + 16 * e)));
    }
  }
#if defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  // The emulator's tensor core: k-order fmas as below, or the block FMA model that
  // DSAGENT_CUDA_EMULATOR_MMA names (tests/cuda_emulator/mma_model.h).
  d[0] = ::dsagent_emu::TensorCoreDot(row_lo, col0, 16, c[0]);
  d[1] = ::dsagent_emu::TensorCoreDot(row_lo, col1, 16, c[1]);
  d[2] = ::dsagent_emu::TensorCoreDot(row_hi, col0, 16, c[2]);
  d[3] = ::dsagent_emu::TensorCoreDot(row_hi, col1, 16, c[3]);
#else
  float acc[4] = {c[0], c[1], c[2], c[3]};
  for (int k = 0; k < 16; ++k) {
    acc[0] = fmaf(row_lo[k], col0[k], acc[0]);
    acc[1] = fmaf(row_lo[k], col1[k], acc[1]);
    acc[2] = fmaf(row_hi[k], col0[k], acc[2]);
    acc[3] = fmaf(row_hi[k], col1[k], acc[3]);
  }
  for (int i = 0; i < 4; ++i) d[i] = acc[i];
#endif
}

__device__ __forceinline__ void MmaBf16(float (&d)[4], const uint32_t (&a)[4],
                                        const uint32_t (&b)[2], const float (&c)[4]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
        "f"(c[2]), "f"(c[3]));
#else
  MmaBf16ByShuffles(d, a, b, c);
#endif
}

}  // namespace dsagent::engine::kernels::cuda
