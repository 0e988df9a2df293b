#include "engine/model/weight_residency.h"

#include <cstdio>
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

std::optional<std::string> LoadRefusal(uint64_t bytes, uint64_t available) {
  if (available == 0 || bytes <= available) return std::nullopt;
  const auto gb = [](uint64_t b) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f GB", static_cast<double>(b) / 1e9);
    return std::string(text);
  };
  return "--weights load needs " + gb(bytes) + " of memory for the weight files, and " +
         gb(available) +
         " is available (MemAvailable); map them instead: --weights mmap (or auto, which "
         "loads only what fits in half of it)";
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
