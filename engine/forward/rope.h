// Rotary position embedding as the reference applies it: interleaved pairs (2i, 2i+1) of the
// last rope_head_dim values of a vector are complex numbers multiplied by e^{i*pos*f_i}.
// Frequencies follow precompute_freqs_cis in fp32: f_i = 1 / base^(2i/rd), blended with YaRN when
// original_seq_len > 0 (compressed layers: compress_rope_theta; window layers: rope_theta, no
// YaRN). Angles are fp32 products pos*f_i; the rotation is evaluated in double and rounded once
// to bf16. Immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"

namespace dsagent::engine::forward {

class Rope {
 public:
  // `compressed_layer`: the layer has compress ratio > 0 (YaRN table).
  Rope(const ModelConfig& config, bool compressed_layer);

  int64_t dims() const { return rope_dims_; }
  const std::vector<float>& frequencies() const { return freqs_; }

  // Rotates the last dims() values of `count` vectors of length `width`, `stride` floats apart,
  // by position `pos` (inverse: by -pos). Values become bf16.
  void Rotate(float* x, int64_t count, int64_t stride, int64_t width, int64_t pos,
              bool inverse) const;

 private:
  int64_t rope_dims_;
  std::vector<float> freqs_;  // [rope_dims / 2]
};

}  // namespace dsagent::engine::forward
