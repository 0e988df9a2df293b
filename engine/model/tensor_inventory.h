// The tensors a V4 checkpoint must contain, derived from its config alone by expanding the one
// tensor table (v4_tensor_table.h; names, shapes, dtypes as ../shared/reference/v4-architecture.md
// §4 lists them), and parameter counts: total, and active per token (shared weights plus
// n_activated_experts of the routed experts per layer).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/dtype.h"
#include "engine/model/model_config.h"
#include "engine/model/v4_tensor_table.h"

namespace dsagent::engine {

struct ExpectedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;  // as stored (FP4 experts: int8 [out, in/2])
  int64_t parameters = 0;      // logical weights (FP4: 2 per byte); 0 for scale tensors
  bool routed_expert = false;  // part of one routed expert (active only when selected)
  bool mtp = false;            // part of an MTP block (not used for ordinary decoding)
  // Where the tensor comes from in the table: its row, the block (decoder layer, then MTP block
  // n_layers + m; -1 for the model scope), the routed expert (-1 for none), and whether it is the
  // block-scale half of a quantised matrix (the weight half comes right before it).
  V4Tensor id = V4Tensor::kEmbed;
  int block = -1;
  int expert = -1;
  bool scale = false;
  V4Values values = V4Values::kMatrix;  // what a synthetic checkpoint fills it with
};

// Every tensor of `config`, in file order (V4TensorTable's expansion).
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

struct ParameterCounts {
  int64_t total = 0;  // every logical weight, MTP included
  int64_t total_no_mtp = 0;
  int64_t active = 0;        // per token without MTP: all but routed experts, plus k of them
  int64_t stored_bytes = 0;  // bytes of all tensors including scales
  int64_t routed_expert_parameters = 0;
};

ParameterCounts CountParameters(const ModelConfig& config);

}  // namespace dsagent::engine
