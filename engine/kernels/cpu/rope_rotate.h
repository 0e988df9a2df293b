// The CPU kernel of rotary position embedding as the reference applies it (Ops::RopeRotate,
// kernels/ops.h; the CUDA kernel's twin: kernels/cuda/ops.h RopeRotate). The frequency table is
// the model's (forward/rope.h builds it from the config, YaRN included).
//
// Thread-safety: a pure function over caller-owned memory.
#pragma once

#include <cstdint>
#include <span>

namespace dsagent::engine::kernels::cpu {

// Rotates the last 2 * freqs.size() values of `count` vectors of length `width`, `stride` floats
// apart, by position `pos` (inverse: by -pos): interleaved pairs (2i, 2i+1) are complex numbers
// multiplied by e^{i * fl32(pos * freqs[i])}, cos and sin in double rounded to fp32, the product
// in double rounded to fp32 and then to bf16 (the reference's complex64 result copied into bf16).
void RopeRotate(float* x, int64_t count, int64_t stride, int64_t width,
                std::span<const float> freqs, int64_t pos, bool inverse);

}  // namespace dsagent::engine::kernels::cpu
