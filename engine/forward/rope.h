// Rotary position embedding as the reference applies it: interleaved pairs (2i, 2i+1) of the
// last rope_head_dim values of a vector are complex numbers multiplied by e^{i*pos*f_i}.
// Frequencies follow precompute_freqs_cis in fp32: f_i = 1 / base^(2i/rd), blended with YaRN when
// original_seq_len > 0 (compressed layers: compress_rope_theta; window layers: rope_theta, no
// YaRN). The rotation itself is the backend's op (kernels/ops.h Ops::RopeRotate: angles fp32
// products pos*f_i, the rotation in double rounded to fp32 then bf16). Immutable after
// construction; thread-safe.
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
  // f_i for the pairs (2i, 2i+1) of the last dims() values: dims() / 2 of them.
  const std::vector<float>& frequencies() const { return freqs_; }

 private:
  int64_t rope_dims_;
  std::vector<float> freqs_;  // [rope_dims / 2]
};

}  // namespace dsagent::engine::forward
