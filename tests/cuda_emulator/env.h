// The CUDA emulator's settings from the environment (README.md here). Internal to the emulator.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace dsagent_emu {

// The positive whole number in environment variable `name`, or `fallback` when it is unset,
// empty or not one.
inline size_t EnvNumber(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return (end != nullptr && *end == '\0' && n > 0) ? static_cast<size_t>(n) : fallback;
}

// Whether environment variable `name` is exactly `word`.
inline bool EnvIs(const char* name, const char* word) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, word) == 0;
}

}  // namespace dsagent_emu
