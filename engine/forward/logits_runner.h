// The `dsagent engine logits` contract: token ids in, logits for every position out, computed by
// one prefill or by a prefill followed by teacher-forced single-token decode steps. File formats:
// raw little-endian int32 ids; raw little-endian float32 logits [T, vocab] row-major.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/model.h"

namespace dsagent::engine::forward {

// Reads a .i32 file. Error: unreadable, empty, or a size that is not a multiple of 4.
Expected<std::vector<int32_t>, std::string> ReadTokenFile(const std::filesystem::path& path);

// Writes floats as raw little-endian float32 (atomically). Error names the path.
Expected<Ok, std::string> WriteFloatFile(const std::filesystem::path& path,
                                         std::span<const float> values);

// Logits [T, vocab] for every token on a fresh sequence. prefill < 0: one prefill of all tokens;
// otherwise the first `prefill` tokens are one prefill (none if 0) and the rest are decoded one at
// a time. Error: prefill > T, or what Model::Forward reports (e.g. an out-of-vocabulary id).
Expected<std::vector<float>, std::string> ComputeLogits(Model& model,
                                                        std::span<const int32_t> tokens,
                                                        int64_t prefill = -1);

}  // namespace dsagent::engine::forward
