// The xor butterfly over a warp's lanes: the reduction a kernel writes as
//   for (offset = width / 2; offset > 0; offset /= 2)
//     v = op(v, __shfl_xor_sync(full, v, offset, width));
// (a warp's sum or max in log2(width) shuffles, each lane ending with its segment's result).
//
// On the device it is exactly those shuffles. On the CPU emulator (tests/cuda_emulator) each
// shuffle is a wait at which every lane's fiber is switched out and back, and those switches were
// most of an emulated test's time; there the lanes' values are read at one wait
// (dsagent_emu::WarpGather) and each lane then computes what its shuffles would have given it,
// with the same operations on the same operands in the same order, so the same bits (the
// emulator's own tests hold the two forms to each other).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

namespace dsagent::engine::kernels::cuda {

// The butterfly by shuffles: every lane of the warp calls it (full mask); kWidth is a power of
// two up to 32 and splits the warp into segments that reduce apart. op(mine, other) is what a lane
// keeps at each step. On the device this is XorButterfly itself.
template <int kWidth, class T, class Op>
__device__ __forceinline__ T XorButterflyByShuffles(T v, Op op) {
  static_assert(kWidth >= 2 && kWidth <= 32 && (kWidth & (kWidth - 1)) == 0,
                "a warp segment: a power of two up to 32 lanes");
#pragma unroll
  for (int offset = kWidth / 2; offset > 0; offset /= 2) {
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset, kWidth));
  }
  return v;
}

#if defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
// What lane `lane ^ m` holds after the butterfly's steps of offsets kWidth / 2 down to kOffset,
// from every lane's value before them (`all`, by lane): at the step of kOffset a lane combines its
// value with that of the lane kOffset away (m | kOffset, as m < kOffset), as its shuffle does.
template <int kOffset, int kWidth, class T, class Op>
__device__ inline T ButterflyCone(const uint64_t* all, int lane, int m, Op op) {
  if constexpr (kOffset == kWidth) {
    T v;
    std::memcpy(&v, &all[lane ^ m], sizeof(T));
    return v;
  } else {
    const T mine = ButterflyCone<2 * kOffset, kWidth, T>(all, lane, m, op);
    const T other = ButterflyCone<2 * kOffset, kWidth, T>(all, lane, m | kOffset, op);
    return op(mine, other);
  }
}

// The butterflies of kN values v[0..kN) from every lane's values at one exchange: for each, the
// kWidth - 1 steps this lane's result depends on, read from the warp's shared array (nothing
// copied to the fiber's stack).
template <int kWidth, int kN, class T, class Op>
__device__ inline void XorButterfliesByGather(T* v, Op op) {
  static_assert(kWidth >= 2 && kWidth <= 32 && (kWidth & (kWidth - 1)) == 0,
                "a warp segment: a power of two up to 32 lanes");
  static_assert(kN <= ::dsagent_emu::kMaxGatherWords, "one gather's words");
  static_assert(sizeof(T) <= sizeof(uint64_t), "a shuffle's value: at most 64 bits");
  uint64_t words[kN] = {};
  for (int i = 0; i < kN; ++i) std::memcpy(&words[i], &v[i], sizeof(T));
  const uint64_t* all = ::dsagent_emu::WarpGather(0xffffffffu, words, kN);
  const int lane = static_cast<int>(::dsagent_emu::LinearThread() % 32);
  for (int i = 0; i < kN; ++i) v[i] = ButterflyCone<1, kWidth, T>(all + 32 * i, lane, 0, op);
}

// One butterfly at one exchange.
template <int kWidth, class T, class Op>
__device__ inline T XorButterflyByGather(T v, Op op) {
  XorButterfliesByGather<kWidth, 1>(&v, op);
  return v;
}
#endif

// The butterfly a kernel calls: by shuffles, or on the emulator by one gather (the same bits).
template <int kWidth, class T, class Op>
__device__ __forceinline__ T XorButterfly(T v, Op op) {
#if defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  return XorButterflyByGather<kWidth>(v, op);
#else
  return XorButterflyByShuffles<kWidth>(v, op);
#endif
}

// v summed over its kWidth-lane segment: v += the value kWidth / 2 lanes away, then kWidth / 4,
// ..., 1 (the order the kernels' contracts name).
struct ShuffleSum {
  template <class T>
  __device__ __forceinline__ T operator()(T mine, T other) const {
    return mine + other;
  }
};
// fmaxf(mine, other): a segment's max (an amax from non-negative values).
struct ShuffleFmax {
  __device__ __forceinline__ float operator()(float mine, float other) const {
    return fmaxf(mine, other);
  }
};

template <int kWidth, class T>
__device__ __forceinline__ T XorSum(T v) {
  return XorButterfly<kWidth>(v, ShuffleSum{});
}

// XorSum of each of kN values (v[0..kN)): on the device step by step across them (the kN
// shuffles of a step issued together), on the emulator all of them at one wait.
template <int kWidth, int kN, class T>
__device__ __forceinline__ void XorSumEach(T* v) {
#if defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  XorButterfliesByGather<kWidth, kN>(v, ShuffleSum{});
#else
#pragma unroll
  for (int offset = kWidth / 2; offset > 0; offset /= 2) {
#pragma unroll
    for (int i = 0; i < kN; ++i) v[i] += __shfl_xor_sync(0xffffffffu, v[i], offset, kWidth);
  }
#endif
}
template <int kWidth, class T, int kN>
__device__ __forceinline__ void XorSumEach(T (&v)[kN]) {
  XorSumEach<kWidth, kN>(&v[0]);
}

}  // namespace dsagent::engine::kernels::cuda
