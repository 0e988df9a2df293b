#include "engine/model/weight_residency.h"

#include <fstream>
#include <string>

namespace dsagent::engine {

std::optional<WeightResidency> ParseWeightResidency(std::string_view text) {
  if (text == "auto") return WeightResidency::kAuto;
  if (text == "mmap") return WeightResidency::kMapped;
  if (text == "load") return WeightResidency::kLoaded;
  return std::nullopt;
}

const char* WeightResidencyName(WeightResidency residency) {
  switch (residency) {
    case WeightResidency::kMapped:
      return "mmap";
    case WeightResidency::kLoaded:
      return "load";
    case WeightResidency::kAuto:
      break;
  }
  return "auto";
}

WeightResidency ResolveWeightResidency(WeightResidency requested, uint64_t bytes,
                                       uint64_t available) {
  if (requested != WeightResidency::kAuto) return requested;
  return available > 0 && bytes <= available / 2 ? WeightResidency::kLoaded
                                                 : WeightResidency::kMapped;
}

uint64_t AvailableMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  uint64_t value = 0;
  while (meminfo >> key >> value) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") return value * 1024;  // reported in kB
  }
  return 0;
}

}  // namespace dsagent::engine
