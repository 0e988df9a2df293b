// DeviceCompressor and CompressToken (compressor_ops.h): the CPU Compress's steps for one token,
// as kernels queued on one stream.
#include <cuda_runtime.h>

#include <limits>
#include <stdexcept>
#include <string>

#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/compressor_ops.h"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/mixing_ops.h"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// The token's projections into its slot: value, and gate logit + position bias (fp32 add).
__global__ void AppendKernel(float* kv, float* score, int64_t width, int64_t slot,
                             const float* projected, const float* ape_row) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= width) return;
  kv[slot * width + c] = projected[c];
  score[slot * width + c] = projected[width + c] + ape_row[c];
}

// After a pooling: an overlapping state's block becomes the previous one (slots [ratio, 2 ratio)
// to [0, ratio)); the current block's slots are emptied. One thread per column owns it in every
// slot.
__global__ void AdvanceKernel(float* kv, float* score, int64_t width, int64_t ratio, int64_t slots,
                              bool overlap) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= width) return;
  const int64_t offset = overlap ? ratio : 0;
  if (overlap) {
    for (int64_t i = 0; i < ratio; ++i) {
      kv[i * width + c] = kv[(ratio + i) * width + c];
      score[i * width + c] = score[(ratio + i) * width + c];
    }
  }
  for (int64_t i = offset; i < slots; ++i) {
    kv[i * width + c] = 0.0f;
    score[i * width + c] = NegInfF();
  }
}

__global__ void Bf16BitsKernel(const float* x, int64_t n, uint16_t* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = FloatToBf16Bits(x[i]);
}

// Waits for the copy: callers pass temporaries.
DeviceBuffer Floats(const std::vector<float>& v, CudaStream& stream) {
  DeviceBuffer b(v.size() * sizeof(float));
  b.Upload(v.data(), b.bytes(), stream);
  stream.Synchronize();
  return b;
}

}  // namespace

DeviceCompressorState DeviceCompressorState::Create(const CompressorShape& shape,
                                                    CudaStream& stream) {
  const size_t n = static_cast<size_t>(shape.slots() * shape.width());
  DeviceCompressorState st;
  st.kv = DeviceBuffer(n * sizeof(float));
  st.score = DeviceBuffer(n * sizeof(float));
  st.Reset(shape, stream);
  stream.Synchronize();
  return st;
}

void DeviceCompressorState::Reset(const CompressorShape& shape, CudaStream& stream) {
  // AdvanceKernel without the overlap's move empties every slot.
  AdvanceKernel<<<Blocks(shape.width()), kThreads, 0, Raw(stream)>>>(
      kv.as<float>(), score.as<float>(), shape.width(), shape.ratio, shape.slots(), false);
  CheckCuda(cudaGetLastError(), "compressor state reset launch");
}

DeviceCompressor DeviceCompressor::Create(const CompressorShape& shape, const WeightRows& wkv,
                                          const WeightRows& wgate, const std::vector<float>& ape,
                                          const std::vector<float>& norm,
                                          const std::vector<float>& freqs, CudaStream& stream) {
  const int64_t width = shape.width();
  const auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("DeviceCompressor: " + what);
  };
  need(shape.ratio > 0 && shape.head_dim > 0, "ratio and head_dim must be positive");
  need(shape.rope_dims >= 0 && shape.rope_dims % 2 == 0 && shape.rope_dims <= shape.head_dim,
       "rope_dims must be even and at most head_dim");
  need(wkv.cols == wgate.cols, "wkv and wgate take inputs of different sizes");
  need(static_cast<int64_t>(ape.size()) == shape.ratio * width,
       "ape has " + std::to_string(ape.size()) +
           " values, the shape needs ratio * width = " + std::to_string(shape.ratio * width));
  need(static_cast<int64_t>(norm.size()) == shape.head_dim, "norm must have head_dim values");
  need(static_cast<int64_t>(freqs.size()) == shape.rope_dims / 2,
       "freqs must have rope_dims / 2 values");
  need(shape.rotate ? shape.head_dim % 32 == 0 : (shape.head_dim - shape.rope_dims) % 64 == 0,
       "the quantised dims must split into blocks (32 rotated, 64 otherwise)");
  DeviceCompressor c;
  c.shape = shape;
  c.wkv = DeviceWeight::Upload(wkv, width, stream);
  c.wgate = DeviceWeight::Upload(wgate, width, stream);
  c.ape = Floats(ape, stream);
  c.norm = Floats(norm, stream);
  c.freqs = Floats(freqs, stream);
  c.projected = DeviceBuffer(static_cast<size_t>(2 * width) * sizeof(float));
  c.entry = DeviceBuffer(static_cast<size_t>(shape.head_dim) * sizeof(float));
  return c;
}

void CompressorProjections(const DeviceCompressor& c, const float* x, int64_t rows,
                           int64_t x_stride, float* projected, CudaStream& stream) {
  const int64_t width = c.shape.width();
  // Exact in both modes, as on the CPU: the pooled entries go through FP8/FP4 quantisation.
  MatVecExact(c.wkv, x, rows, x_stride, projected, 2 * width, false, stream);
  MatVecExact(c.wgate, x, rows, x_stride, projected + width, 2 * width, false, stream);
}

bool CompressToken(DeviceCompressor& c, DeviceCompressorState& state, const float* x, int64_t pos,
                   uint16_t* entries, CudaStream& stream) {
  CompressorProjections(c, x, 1, 0, c.projected.as<float>(), stream);
  return CompressProjected(c, state, c.projected.as<float>(), pos, entries, stream);
}

bool CompressProjected(DeviceCompressor& c, DeviceCompressorState& state, const float* projected,
                       int64_t pos, uint16_t* entries, CudaStream& stream) {
  const CompressorShape& s = c.shape;
  const int64_t r = s.ratio, d = s.head_dim, width = s.width();
  const int64_t slot = (s.overlap ? r : 0) + pos % r;
  AppendKernel<<<Blocks(width), kThreads, 0, Raw(stream)>>>(
      state.kv.as<float>(), state.score.as<float>(), width, slot, projected,
      c.ape.as<float>() + (pos % r) * width);
  CheckCuda(cudaGetLastError(), "compressor append launch");
  if ((pos + 1) % r != 0) return false;

  float* entry = c.entry.as<float>();
  CompressorPool(state.kv.as<float>(), state.score.as<float>(), width, r, d, s.overlap,
                 /*round_bf16=*/true, entry, stream);
  AdvanceKernel<<<Blocks(width), kThreads, 0, Raw(stream)>>>(
      state.kv.as<float>(), state.score.as<float>(), width, r, s.slots(), s.overlap);
  CheckCuda(cudaGetLastError(), "compressor advance launch");
  RmsNorm(entry, 1, d, c.norm.as<float>(), s.norm_eps, entry, stream);
  RopeRotate(entry, 1, d, d, s.rope_dims, c.freqs.as<float>(), pos + 1 - r, false, stream);
  if (s.rotate) {
    HadamardRotate(entry, 1, d, stream);
    ActQuant(entry, 1, d, 32, ActQuantFormat::kFp4, stream);
  } else if (d > s.rope_dims) {
    ActQuant(entry, 1, d - s.rope_dims, 64, ActQuantFormat::kFp8, stream);
  }
  Bf16BitsKernel<<<Blocks(d), kThreads, 0, Raw(stream)>>>(entry, d, entries + (pos / r) * d);
  CheckCuda(cudaGetLastError(), "compressor entry launch");
  return true;
}

}  // namespace dsagent::engine::kernels::cuda
