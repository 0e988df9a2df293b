// The arithmetic of the tiled MatVec kernel (matvec_tiled.cu), `__host__ __device__` like
// device_math.h so the host tests run the very code the kernel runs
// (tests/engine/kernels/cuda_tiled_matvec_math_test.cc: every row through the items and the
// ordered fold, against WeightRowDotsF32, bit for bit).
//
// The contract (kernels/cpu/weight_dot_f32.h, pair order) splits a row into independent fp32
// chains — block[j] of lane j (0..15) over one 128-column block — and only then adds them in
// order, in double. A work item is (row, block, half h): the eight chains of lanes 8h..8h+7 over
// the block's four 32-column groups, whose bytes are contiguous per group (FP8: 16 bytes, BF16:
// 32, FP4: 8). Lane 8h+m takes columns g+16h+2m+1, then g+16h+2m, of each group g.
//
// Weights are decoded from their bits, to WeightAt's values: FP8's e4m3 bits moved to a float's
// places read as the value times 2^-120 (its subnormals as subnormals), FP4's e2m1 bits as the
// value times 2^-126, then multiplied back (FP4: with its scale). The decode item and the
// register-tiled prompt kernel (GemmStore) do it two codes at a time in bf16 pairs (E4M3PairBf16,
// E2M1PairBf16, Bf16LaneTimes, below); the tensor-core kernel's staging with the fp32 readings
// (E4M3ByteScaled, E2M1NibbleScaled). A pair step is PairStepFtz: on the
// device one `fma.rn.ftz.f32` (PTX flushes subnormal inputs and results to signed zero), on the
// host PairStep's explicit flushes. They can differ only where an fma's exact result lies within
// 2^-150 below 2^-126 (whether tininess is judged before or after rounding), which the fast
// contract's 1 ulp covers and real data does not reach.
#pragma once

#include <cstdint>
#include <cstring>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

constexpr int kTiledBlockCols = 128;

// Fully unrolled on the device (the item's arrays stay in registers only with constant indices).
#if defined(__CUDA_ARCH__)
#define DSAGENT_UNROLL _Pragma("unroll")
#else
#define DSAGENT_UNROLL
#endif

DSAGENT_HD float PairStepFtz(float acc, float w, float x) {
#if defined(__CUDA_ARCH__)
  float r;
  asm("fma.rn.ftz.f32 %0, %1, %2, %3;" : "=f"(r) : "f"(w), "f"(x), "f"(acc));
  return r;
#else
  return PairStep(acc, w, x);
#endif
}

// Byte i (0..3) of `word` as e4m3, times 2^-120: its sign to bit 31, its other bits to 20..26.
// An e4m3 NaN byte (0x7f, 0xff) reads as 480 * 2^-120 here: E4M3NanBytes finds them.
DSAGENT_HD float E4M3ByteScaled(uint32_t word, int i) {
  const uint32_t top = word << (24 - 8 * i);
  return BitsFloat(static_cast<uint32_t>(static_cast<int32_t>(top) >> 4) & 0x87f00000u);
}
// Nibble i (0..7) of `word` as e2m1, times 2^-126: its sign to bit 31, its other bits to 22..24.
DSAGENT_HD float E2M1NibbleScaled(uint32_t word, int i) {
  const uint32_t top = word << (28 - 4 * i);
  return BitsFloat(static_cast<uint32_t>(static_cast<int32_t>(top) >> 6) & 0x81c00000u);
}
// Bit 7 of a byte set where that byte of `word` is an e4m3 NaN (low 7 bits all ones).
DSAGENT_HD uint32_t E4M3NanBytes(uint32_t word) {
  return ((word & 0x7f7f7f7fu) + 0x01010101u) & 0x80808080u;
}

// The decode item's weights go through bf16 pairs: two codes of a word placed in one register's
// two bf16 lanes (sign to the lane's bit 15, the other bits to where the scaled reading above puts
// them: the same values, 2^-126 or 2^-120 times the code's), then each lane multiplied by its
// scale into an fp32 by one bf16x2 fma whose other lane gives +0 (Bf16LaneTimes). So a weight
// costs about one integer instruction and that fma where the scaled reading took three and a
// multiply (sm_90 SASS, scripts/sass-count.sh). The products are exact (a code times a power of
// two, inside bf16's range), so the weights are WeightAt's values, except that a negative zero
// reads as +0: a chain's zero is added into a double lane that starts at +0, so the sign of a
// zero never reaches a row's output.
//
// Nibbles j and j + 4 (j: 0..3) of `word` as e2m1 times 2^-126, in bits 0..15 and 16..31.
DSAGENT_HD uint32_t E2M1PairBf16(uint32_t word, int j) {
  const uint32_t top = word << (12 - 4 * j);  // the nibbles' signs at bits 15 and 31
  return (top & 0x80008000u) | ((top & 0x70007000u) >> 6);
}
// Bytes j and j + 2 (j: 0, 1) of `word` as e4m3 times 2^-120, in bits 0..15 and 16..31 (a NaN
// byte reads as 480 * 2^-120, as above).
DSAGENT_HD uint32_t E4M3PairBf16(uint32_t word, int j) {
  const uint32_t top = word << (8 - 8 * j);  // the bytes' signs at bits 15 and 31
  return (top & 0x80008000u) | ((top & 0x7f007f00u) >> 4);
}
// The bf16 in lane kHi (0: bits 0..15, 1: bits 16..31) of `pair` times the bf16 `scale` (its bits
// in 16..31, the rest zero), as an fp32 (exact products only; +0 where the product is -0). On the
// device one `fma.rn.bf16x2` with a +0 addend: the lane's value times `scale` lands in bits
// 16..31, the other lane's times 0 plus +0 leaves bits 0..15 zero; for lane 0, ptxas reads the
// lane twice by the instruction's operand swizzle (.H0_H0), with no instruction for it. bf16
// arithmetic keeps subnormal inputs (e2m1's 0.5 and e4m3's subnormals read as bf16 subnormals).
template <int kHi>
DSAGENT_HD float Bf16LaneTimes(uint32_t pair, uint32_t scale) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  if constexpr (kHi == 1) {
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(pair), "r"(scale), "r"(0u));
  } else {
    asm("{\n .reg .b16 lo, hi;\n .reg .b32 both;\n mov.b32 {lo, hi}, %1;\n"
        " mov.b32 both, {lo, lo};\n fma.rn.bf16x2 %0, both, %2, %3;\n}"
        : "=r"(d)
        : "r"(pair), "r"(scale), "r"(0u));
  }
  return BitsFloat(d);
#else
  const uint32_t lane = kHi == 1 ? pair & 0xffff0000u : pair << 16;
  return BitsFloat(lane) * BitsFloat(scale) + 0.0f;
#endif
}

// n little-endian 32-bit words from p (16-byte aligned for n = 4, 8-byte for 2): one vector
// load on the device, through the read-only cache.
template <int N>
DSAGENT_HD void LoadWords(const uint8_t* p, uint32_t* out) {
#if defined(__CUDA_ARCH__)
  if constexpr (N == 4) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  } else if constexpr (N == 2) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
    out[0] = v.x, out[1] = v.y;
  } else {
    static_assert(N == 1);
    out[0] = __ldg(reinterpret_cast<const uint32_t*>(p));
  }
#else
  std::memcpy(out, p, 4 * N);
#endif
}
// Four floats from p (16-byte aligned): one vector load from shared memory on the device.
DSAGENT_HD void LoadFloats4(const float* p, float* out) {
#if defined(__CUDA_ARCH__)
  const float4 v = *reinterpret_cast<const float4*>(p);
  out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
#else
  std::memcpy(out, p, 16);
#endif
}

// One FP4 group's 32 columns (words: its 8 bytes) with scale byte s in [2, 128]: each e2m1 * 2^-126
// times 2^(s-1), one exact product (2^(s-1) is a normal bf16). A scale byte past 128 needs two
// multiplies (WeightAt's); ItemChains leaves such an item to the generic code, so that the common
// case carries no second multiply, not even a predicated one (for sm_90 ptxas had turned that `if`
// into 64 predicated FMULs an item: an eighth of the FP4 item's instructions).
DSAGENT_HD void Fp4Group(const uint32_t* words, uint8_t s, const float* xs, float* acc) {
  const uint32_t scale = (static_cast<uint32_t>(s) + 126u) << 23;  // bf16 2^(s-1), bits 16..31
  uint32_t pairs[2][4];  // [word][j]: nibbles j (lane 0) and j + 4 (lane 1)
  DSAGENT_UNROLL
  for (int w = 0; w < 2; ++w) {
    DSAGENT_UNROLL
    for (int j = 0; j < 4; ++j) pairs[w][j] = E2M1PairBf16(words[w], j);
  }
  DSAGENT_UNROLL
  for (int q = 0; q < 4; ++q) {
    float x4[4];
    LoadFloats4(xs + 4 * q, x4);
    DSAGENT_UNROLL
    for (int e = 0; e < 2; ++e) {
      // Chain m: its word's nibbles 2c + 1, then 2c (c = m % 4): pairs j = 2(c % 2) + 1 and
      // 2(c % 2), lane c / 2.
      const int m = 2 * q + e, c = m % 4;
      const uint32_t odd = pairs[m / 4][2 * (c % 2) + 1], even = pairs[m / 4][2 * (c % 2)];
      const float w_odd = c < 2 ? Bf16LaneTimes<0>(odd, scale) : Bf16LaneTimes<1>(odd, scale);
      const float w_even = c < 2 ? Bf16LaneTimes<0>(even, scale) : Bf16LaneTimes<1>(even, scale);
      acc[m] = PairStepFtz(acc[m], w_odd, x4[2 * e + 1]);
      acc[m] = PairStepFtz(acc[m], w_even, x4[2 * e]);
    }
  }
}

// An item's weight bytes, loaded once: FP8 four groups of 16 bytes, BF16 four of 32, FP4 four of
// 8 plus the four groups' scale bytes.
template <WeightKind K>
struct ItemWords;
template <>
struct ItemWords<WeightKind::kFP8> {
  uint32_t w[4][4];
};
template <>
struct ItemWords<WeightKind::kBF16> {
  uint32_t w[4][8];
};
template <>
struct ItemWords<WeightKind::kFP4> {
  uint32_t w[4][2];
  uint32_t scales;
};

// Loads the bytes of item (row, blk, h) of a weight of kind K (BF16, FP8 or FP4; cols a multiple
// of 128).
template <WeightKind K>
DSAGENT_HD void LoadItem(const WeightView& w, int64_t row, int blk, int h, ItemWords<K>& words) {
  const int64_t c0 = static_cast<int64_t>(blk) * kTiledBlockCols;
  if constexpr (K == WeightKind::kFP8) {
    const uint8_t* p = w.data + row * w.cols + c0 + 16 * h;
    DSAGENT_UNROLL
    for (int k = 0; k < 4; ++k) LoadWords<4>(p + 32 * k, words.w[k]);
  } else if constexpr (K == WeightKind::kBF16) {
    const uint8_t* p = w.data + 2 * (row * w.cols + c0 + 16 * h);
    DSAGENT_UNROLL
    for (int k = 0; k < 4; ++k) {
      LoadWords<4>(p + 64 * k, words.w[k]);
      LoadWords<4>(p + 64 * k + 16, words.w[k] + 4);
    }
  } else {
    static_assert(K == WeightKind::kFP4, "LoadItem: BF16, FP8 or FP4");
    const uint8_t* p = w.data + (row * w.cols + c0) / 2 + 8 * h;
    LoadWords<1>(w.scale + row * w.scale_cols + 4 * blk, &words.scales);
    DSAGENT_UNROLL
    for (int k = 0; k < 4; ++k) LoadWords<2>(p + 16 * k, words.w[k]);
  }
}

// The item's eight chains over its loaded words: adds them to acc (block[8h..8h+7]). xs points at
// the activation's column blk*128 + 16h. Returns false where the item must be recomputed by the
// generic code (an FP8 NaN byte; an FP4 scale byte outside [2, 128]); sets *tail where
// an FP4 group's scale byte is outside the lane range (that group goes to the tail,
// BlockPairTail; RaiseFlag, as a row's items may set it at once; set before any return, since
// the generic code skips those groups without flagging them).
template <WeightKind K>
DSAGENT_HD bool ItemChains(const ItemWords<K>& words, const float* xs, float* acc, int* tail) {
  if constexpr (K == WeightKind::kFP8) {
    uint32_t nan = 0;
    DSAGENT_UNROLL
    for (int k = 0; k < 4; ++k) {
      DSAGENT_UNROLL
      for (int q = 0; q < 4; ++q) {
        float x4[4];
        LoadFloats4(xs + 32 * k + 4 * q, x4);
        const uint32_t word = words.w[k][q];
        nan |= E4M3NanBytes(word);
        // Bytes 1 then 0 to chain 2q, 3 then 2 to chain 2q + 1; times 2^120 (bf16 bits 0x7b80).
        const uint32_t even = E4M3PairBf16(word, 0), odd = E4M3PairBf16(word, 1);
        constexpr uint32_t kScale = 0x7b800000u;
        acc[2 * q] = PairStepFtz(acc[2 * q], Bf16LaneTimes<0>(odd, kScale), x4[1]);
        acc[2 * q] = PairStepFtz(acc[2 * q], Bf16LaneTimes<0>(even, kScale), x4[0]);
        acc[2 * q + 1] = PairStepFtz(acc[2 * q + 1], Bf16LaneTimes<1>(odd, kScale), x4[3]);
        acc[2 * q + 1] = PairStepFtz(acc[2 * q + 1], Bf16LaneTimes<1>(even, kScale), x4[2]);
      }
    }
    return nan == 0;
  } else if constexpr (K == WeightKind::kBF16) {
    DSAGENT_UNROLL
    for (int k = 0; k < 4; ++k) {
      DSAGENT_UNROLL
      for (int q = 0; q < 4; ++q) {
        float x4[4];
        LoadFloats4(xs + 32 * k + 4 * q, x4);
        DSAGENT_UNROLL
        for (int e = 0; e < 2; ++e) {
          const int m = 2 * q + e;
          const uint32_t word = words.w[k][m];
          acc[m] = PairStepFtz(acc[m], BitsFloat(word & 0xffff0000u), x4[2 * e + 1]);
          acc[m] = PairStepFtz(acc[m], BitsFloat(word << 16), x4[2 * e]);
        }
      }
    }
    return true;
  } else {
    static_assert(K == WeightKind::kFP4, "ItemChains: BF16, FP8 or FP4");
    // Every group's scale byte in [2, 128] (real checkpoints: all of them): one multiply a weight
    // and no test per group. Otherwise the generic code takes the item, after the groups out of
    // the lane range are flagged for the tail.
    bool one_multiply = true;
    DSAGENT_UNROLL
    for (int k = 0; k < 4; ++k) one_multiply &= ((words.scales >> (8 * k)) & 0xffu) - 2u <= 126u;
    if (!one_multiply) {
      DSAGENT_UNROLL
      for (int k = 0; k < 4; ++k) {
        if (!Fp4ScaleInLaneRange(static_cast<uint8_t>(words.scales >> (8 * k)))) RaiseFlag(tail);
      }
      return false;
    }
    DSAGENT_UNROLL
    for (int k = 0; k < 4; ++k) {
      Fp4Group(words.w[k], static_cast<uint8_t>(words.scales >> (8 * k)), xs + 32 * k, acc);
    }
    return true;
  }
}

// The item (row, blk, h): LoadItem then ItemChains (the single-row kernel's work item).
template <WeightKind K>
DSAGENT_HD bool PairItem(const WeightView& w, int64_t row, int blk, int h, const float* xs,
                         float* acc, int* tail) {
  ItemWords<K> words;
  LoadItem<K>(w, row, blk, h, words);
  return ItemChains<K>(words, xs, acc, tail);
}

// One row's dot the way the tiled kernel computes it, on the host: every item (block sums kept
// per block, the items ItemChains declines recomputed by BlockLanePairSum), then the blocks folded
// in order into the double lanes (FP8: one fma with the block's power-of-two scale, the same as the
// contract's product-then-add), reduced in the contract's order, plus the tail of the flagged FP4
// groups. The activation must be exact in bf16 (the pair order) and w.cols a multiple of 128.
template <WeightKind K>
inline float RowDotByTiledItems(const WeightView& w, int64_t row, const float* x) {
  const int blocks = static_cast<int>(w.cols / kTiledBlockCols);
  double lanes[16] = {};
  int tail_flag = 0;
  for (int blk = 0; blk < blocks; ++blk) {
    float sums[16] = {};
    for (int h = 0; h < 2; ++h) {
      const int64_t c0 = static_cast<int64_t>(blk) * kTiledBlockCols;
      if (!PairItem<K>(w, row, blk, h, x + c0 + 16 * h, sums + 8 * h, &tail_flag)) {
        for (int m = 0; m < 8; ++m) {
          sums[8 * h + m] = BlockLanePairSum(w, row, c0, c0 + kTiledBlockCols, 8 * h + m, x);
        }
      }
    }
    for (int j = 0; j < 16; ++j) {
      const double block = static_cast<double>(sums[j]);
      if constexpr (K == WeightKind::kFP8) {
        lanes[j] =
            std::fma(block, BlockPairScale(w, row, int64_t{blk} * kTiledBlockCols), lanes[j]);
      } else {
        lanes[j] += block;
      }
    }
  }
  float tail = 0.0f;
  if (tail_flag != 0) {
    for (int64_t c0 = 0; c0 < w.cols; c0 += kTiledBlockCols) {
      tail = BlockPairTail(w, row, c0, c0 + kTiledBlockCols, x, tail);
    }
  }
  return static_cast<float>(ReduceLanes16(lanes) + static_cast<double>(tail));
}

}  // namespace dsagent::engine::kernels::cuda
