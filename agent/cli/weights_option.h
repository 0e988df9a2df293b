// `--weights auto|mmap|load` of `serve`, `engine logits` and `engine generate`: how the model's
// weight files are held in memory (engine/model/weight_residency.h).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "engine/model/weight_residency.h"

namespace dsagent {

// Declares --weights (default "auto", checked to be one of the three) on `cmd`.
void AddWeightsOption(CLI::App& cmd, std::string& weights);

// The residency an --weights value (already checked by the option) names.
inline engine::WeightResidency WeightsFromOption(const std::string& weights) {
  return engine::ParseWeightResidency(weights).value_or(engine::WeightResidency::kAuto);
}

}  // namespace dsagent
