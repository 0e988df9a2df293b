// The bandwidth path of MatVec (matvec_tiled.h): the pair order of weight_dot_f32.h for BF16,
// FP8 and FP4 weights whose columns are whole 128-column blocks, read with 16-byte loads.
//
// The contract splits a row into independent fp32 chains — block[j] of lane j (0..15) over one
// 128-column block — and only then adds them in order, in double: lanes[j] += double(block[j]) *
// scale, block after block. So the chains can run anywhere and in any order, as long as the
// double sums run in block order. A work item here is (row, block, half h): the eight chains of
// lanes 8h..8h+7 over that block's four 32-column groups, whose bytes are contiguous per group
// (FP8: 16 bytes, BF16: 32, FP4: 8). A CTA owns a tile of rows; its 256 threads share the items
// (half fastest, then block, then row: a warp reads 16 neighbouring blocks of one row), each
// leaves its eight block sums in shared memory, then 16 threads per row fold the blocks in order
// into the double lanes, reduce them in the contract's order and add the tail. Same bits as
// WeightRowDotsF32, with many items in flight whatever the row count (the old kernel had one
// half-warp per row and 2-byte loads).
//
// A pair step is one `fma.rn.ftz.f32`: PTX's ftz flushes subnormal inputs and results to signed
// zero, what PairStep (device_math.h) does with explicit flushes. The weights are decoded from
// their bits with shifts and one multiply (FP8: e4m3 bits in fp32's place times 2^120, subnormals
// included; FP4: e2m1 bits times 2^126 times the group scale), exact like WeightAt. The rare
// cases take device_math.h's generic code: an FP8 NaN byte (0x7f/0xff, which the bit trick would
// read as 480) recomputes its item; an FP4 group whose scale byte is outside the lane range goes
// to the tail (flagged per row); an input row not exact in bf16 (the columns order) runs the CTA's
// rows through the 16-lanes-per-row code of matvec.cu.
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/matvec_lanes.cuh"
#include "engine/kernels/cuda/matvec_tiled.h"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlockCols = 128;
constexpr int kLaneStride = 16;  // floats per (row, block) in the shared block sums
// Shared memory for one CTA's block sums; the tile's rows are chosen to fit it.
constexpr int64_t kSumBytesBudget = 64 * 1024;
constexpr int64_t kSharedBytesMax = 160 * 1024;

__device__ __forceinline__ float PairFma(float acc, float w, float x) {
  float r;
  asm("fma.rn.ftz.f32 %0, %1, %2, %3;" : "=f"(r) : "f"(w), "f"(x), "f"(acc));
  return r;
}

// Byte i (0..3) of `word` as e4m3, times 2^-120: its sign to bit 31, its other bits to 20..26.
__device__ __forceinline__ float Fp8Scaled(uint32_t word, int i) {
  const uint32_t top = word << (24 - 8 * i);
  return __uint_as_float(static_cast<uint32_t>(static_cast<int32_t>(top) >> 4) & 0x87f00000u);
}
// Nibble i (0..7) of `word` as e2m1, times 2^-126: its sign to bit 31, its other bits to 22..24.
__device__ __forceinline__ float Fp4Scaled(uint32_t word, int i) {
  const uint32_t top = word << (28 - 4 * i);
  return __uint_as_float(static_cast<uint32_t>(static_cast<int32_t>(top) >> 6) & 0x81c00000u);
}
// Bit 7 of a byte set where that byte of `word` is an e4m3 NaN (low 7 bits all ones).
__device__ __forceinline__ uint32_t Fp8NanBits(uint32_t word) {
  return ((word & 0x7f7f7f7fu) + 0x01010101u) & 0x80808080u;
}

// Lanes 8h..8h+7 of block `blk` of `row`: lane 8h+m takes columns g+16h+2m (+1 first) of each
// 32-column group g. xs points at the block's first column + 16h. Returns false where the
// item must be recomputed by the generic code (an FP8 NaN byte); `tail` is set where an FP4 group
// goes to the tail.
template <WeightKind K>
__device__ __forceinline__ bool PairItem(const WeightView& w, int64_t row, int blk, int h,
                                         const float* xs, float acc[8], int* tail) {
  if constexpr (K == WeightKind::kFP8) {
    const uint8_t* p = w.data + row * w.cols + int64_t{blk} * kBlockCols + 16 * h;
    uint4 v[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = __ldg(reinterpret_cast<const uint4*>(p + 32 * k));
    uint32_t nan = 0;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t words[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const float4 x4 = *reinterpret_cast<const float4*>(xs + 32 * k + 4 * q);
        const uint32_t word = words[q];
        nan |= Fp8NanBits(word);
        acc[2 * q] = PairFma(acc[2 * q], Fp8Scaled(word, 1) * 0x1p120f, x4.y);
        acc[2 * q] = PairFma(acc[2 * q], Fp8Scaled(word, 0) * 0x1p120f, x4.x);
        acc[2 * q + 1] = PairFma(acc[2 * q + 1], Fp8Scaled(word, 3) * 0x1p120f, x4.w);
        acc[2 * q + 1] = PairFma(acc[2 * q + 1], Fp8Scaled(word, 2) * 0x1p120f, x4.z);
      }
    }
    return nan == 0;
  } else if constexpr (K == WeightKind::kBF16) {
    const uint8_t* p = w.data + 2 * (row * w.cols + int64_t{blk} * kBlockCols + 16 * h);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint4 a = __ldg(reinterpret_cast<const uint4*>(p + 64 * k));
      const uint4 b = __ldg(reinterpret_cast<const uint4*>(p + 64 * k + 16));
      const uint32_t words[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
      for (int m = 0; m < 8; ++m) {
        const float2 x2 = *reinterpret_cast<const float2*>(xs + 32 * k + 2 * m);
        acc[m] = PairFma(acc[m], __uint_as_float(words[m] & 0xffff0000u), x2.y);
        acc[m] = PairFma(acc[m], __uint_as_float(words[m] << 16), x2.x);
      }
    }
    return true;
  } else {
    static_assert(K == WeightKind::kFP4);
    const uint8_t* p = w.data + (row * w.cols + int64_t{blk} * kBlockCols) / 2 + 8 * h;
    const uint32_t scales =
        __ldg(reinterpret_cast<const uint32_t*>(w.scale + row * w.scale_cols + 4 * blk));
    uint2 v[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = __ldg(reinterpret_cast<const uint2*>(p + 16 * k));
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint8_t s = static_cast<uint8_t>(scales >> (8 * k));
      if (!Fp4ScaleInLaneRange(s)) {
        *tail = 1;
        continue;
      }
      // e2m1 * 2^-126 * (2^126 * scale): one multiply while 2^126 * scale is a float.
      const bool one = s <= 128;
      const float f = one ? Pow2F(static_cast<int>(s) - 1) : 0x1p126f;
      const float scale = E8M0ToFloat(s);
      const uint32_t words[2] = {v[k].x, v[k].y};
#pragma unroll
      for (int m = 0; m < 8; ++m) {
        const float2 x2 = *reinterpret_cast<const float2*>(xs + 32 * k + 2 * m);
        const uint32_t word = words[m / 4];
        float odd = Fp4Scaled(word, 2 * (m % 4) + 1) * f;
        float even = Fp4Scaled(word, 2 * (m % 4)) * f;
        if (!one) {
          odd *= scale;
          even *= scale;
        }
        acc[m] = PairFma(acc[m], odd, x2.y);
        acc[m] = PairFma(acc[m], even, x2.x);
      }
    }
    return true;
  }
}

// Grid (tiles, inputs or slots); dynamic shared memory: x (cols floats), the block sums
// (rows_per_tile x (blocks * 16 + 16) floats) and a tail flag per row.
template <WeightKind K>
__global__ void __launch_bounds__(kThreads)
    TiledKernel(const WeightView* views, const int32_t* ids, WeightView single, int64_t row_begin,
                int64_t rows, int rows_per_tile, const float* x, int64_t x_stride, float* y,
                int64_t y_stride, bool round_bf16) {
  extern __shared__ float4 shared4[];
  float* const xs = reinterpret_cast<float*>(shared4);
  const int64_t s = blockIdx.y;
  const WeightView w = views != nullptr ? views[ids[s]] : single;
  const float* xt = x + s * x_stride;
  const int blocks = static_cast<int>(w.cols / kBlockCols);
  const int stride = blocks * kLaneStride + kLaneStride;  // padded: neighbouring rows, other banks
  float* const sums = xs + w.cols;
  int* const tail_flags = reinterpret_cast<int*>(sums + int64_t{rows_per_tile} * stride);
  const int tid = static_cast<int>(threadIdx.x);

  int exact = 1;
  for (int64_t c = tid; c < w.cols; c += kThreads) {
    const float v = xt[c];
    xs[c] = v;
    exact &= ExactInBf16(v) ? 1 : 0;
  }
  for (int r = tid; r < rows_per_tile; r += kThreads) tail_flags[r] = 0;
  exact = __syncthreads_and(exact);

  const int64_t tile_row0 = static_cast<int64_t>(blockIdx.x) * rows_per_tile;
  const int tile_rows = static_cast<int>(rows - tile_row0 < rows_per_tile ? rows - tile_row0
                                                                          : rows_per_tile);
  float* const out = y + s * y_stride + tile_row0;
  const int lane = tid & 15;
  if (!exact) {
    // The columns order: 16 lanes per row, 16 rows at a time (every thread takes part in the
    // shuffles of each pass).
    for (int r0 = 0; r0 < tile_rows; r0 += kThreads / 16) {
      const int r = r0 + tid / 16;
      MatVecLanesRow(w, row_begin + tile_row0 + r, r < tile_rows, xs, out + r, round_bf16, false,
                     lane);
    }
    return;
  }

  const int items = tile_rows * blocks * 2;
  for (int it = tid; it < items; it += kThreads) {
    const int h = it & 1, blk = (it >> 1) % blocks, r = (it >> 1) / blocks;
    const int64_t row = row_begin + tile_row0 + r;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float* xb = xs + blk * kBlockCols + 16 * h;
    if (!PairItem<K>(w, row, blk, h, xb, acc, &tail_flags[r])) {
      const int64_t c0 = int64_t{blk} * kBlockCols;
      for (int m = 0; m < 8; ++m) acc[m] = BlockLanePairSum(w, row, c0, c0 + kBlockCols, 8 * h + m, xs);
    }
    float4* dst = reinterpret_cast<float4*>(sums + r * stride + blk * kLaneStride + 8 * h);
    dst[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
    dst[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
  }
  __syncthreads();

  for (int r0 = 0; r0 < tile_rows; r0 += kThreads / 16) {
    const int r = r0 + tid / 16;
    const bool valid = r < tile_rows;
    const int64_t row = row_begin + tile_row0 + r;
    double acc = 0.0;
    if (valid) {
      const float* sr = sums + r * stride + lane;
      for (int blk = 0; blk < blocks; ++blk) {
        const double block = static_cast<double>(sr[blk * kLaneStride]);
        if constexpr (K == WeightKind::kFP8) {
          // lanes += double(block) * scale: the product is exact (a power of two), so one fma.
          acc = fma(block, BlockPairScale(w, row, int64_t{blk} * kBlockCols), acc);
        } else {
          acc += block;
        }
      }
    }
    acc += __shfl_xor_sync(0xffffffffu, acc, 8, 16);
    acc += __shfl_xor_sync(0xffffffffu, acc, 4, 16);
    acc += __shfl_xor_sync(0xffffffffu, acc, 2, 16);
    acc += __shfl_xor_sync(0xffffffffu, acc, 1, 16);
    if (valid && lane == 0) {
      float tail = 0.0f;
      if (tail_flags[r] != 0) {
        for (int64_t c0 = 0; c0 < w.cols; c0 += kBlockCols) {
          tail = BlockPairTail(w, row, c0, c0 + kBlockCols, xs, tail);
        }
      }
      const float v = static_cast<float>(acc + static_cast<double>(tail));
      out[r] = round_bf16 ? RoundBf16(v) : v;
    }
  }
}

int SmCount() {
  static int count = [] {
    int device = 0, sms = 0;
    CheckCuda(cudaGetDevice(&device), "cudaGetDevice");
    CheckCuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
              "cudaDeviceGetAttribute(SMs)");
    return sms > 0 ? sms : 1;
  }();
  return count;
}

template <WeightKind K>
void Launch(const TiledMatVec& m, int rows_per_tile, size_t shared, cudaStream_t stream) {
  static const bool raised = [] {
    CheckCuda(cudaFuncSetAttribute(TiledKernel<K>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(kSharedBytesMax)),
              "cudaFuncSetAttribute(shared memory)");
    return true;
  }();
  (void)raised;
  const dim3 grid(static_cast<unsigned>((m.rows + rows_per_tile - 1) / rows_per_tile),
                  static_cast<unsigned>(m.inputs));
  TiledKernel<K><<<grid, kThreads, shared, stream>>>(m.views, m.ids, m.single, m.row_begin, m.rows,
                                                     rows_per_tile, m.x, m.x_stride, m.y,
                                                     m.y_stride, m.round_bf16);
}

// Rows per tile: as many as the block sums' budget holds (a multiple of 16, the fold's pass),
// halved while that leaves fewer than two CTAs per SM.
int RowsPerTile(int64_t cols, int64_t rows, int64_t inputs) {
  const int64_t row_bytes = (cols / kBlockCols * kLaneStride + kLaneStride) * 4;
  int64_t tile = kSumBytesBudget / row_bytes / 16 * 16;
  if (tile < 16) tile = 16;
  if (tile > 256) tile = 256;
  const int64_t want = 2 * int64_t{SmCount()};
  while (tile > 16 && (rows + tile - 1) / tile * inputs < want) tile /= 2;
  return static_cast<int>(tile < 16 ? 16 : tile / 16 * 16);
}

size_t SharedBytes(int64_t cols, int rows_per_tile) {
  const int64_t stride = cols / kBlockCols * kLaneStride + kLaneStride;
  return static_cast<size_t>((cols + rows_per_tile * stride) * 4 + rows_per_tile * 4);
}

}  // namespace

bool TiledMatVecTakes(WeightKind kind, int64_t cols) {
  if (kind == WeightKind::kF32 || cols <= 0 || cols % kBlockCols != 0) return false;
  return SharedBytes(cols, 16) <= static_cast<size_t>(kSharedBytesMax);
}

void RunTiledMatVec(const TiledMatVec& m, WeightKind kind, int64_t cols, cudaStream_t stream) {
  if (m.rows <= 0 || m.inputs <= 0) return;
  const int rows_per_tile = RowsPerTile(cols, m.rows, m.inputs);
  const size_t shared = SharedBytes(cols, rows_per_tile);
  switch (kind) {
    case WeightKind::kFP8:
      Launch<WeightKind::kFP8>(m, rows_per_tile, shared, stream);
      break;
    case WeightKind::kBF16:
      Launch<WeightKind::kBF16>(m, rows_per_tile, shared, stream);
      break;
    case WeightKind::kFP4:
      Launch<WeightKind::kFP4>(m, rows_per_tile, shared, stream);
      break;
    case WeightKind::kF32:
      throw CudaError("RunTiledMatVec: F32 weights take the columns-order kernel");
  }
  CheckCuda(cudaGetLastError(), "tiled MatVec launch");
}

}  // namespace dsagent::engine::kernels::cuda
