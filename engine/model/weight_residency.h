// How a checkpoint's weight bytes are held in memory while the engine runs.
//
//   mapped  mmap of the safetensors files: lazy, shared with the page cache, nothing copied, in
//           4 KiB pages. Costs nothing at load; what llama.cpp does by default.
//   loaded  read once into private anonymous memory with transparent huge pages (2 MiB, where the
//           kernel allows them): decode streams every weight once per token, and on the machines
//           measured the hardware prefetchers stream huge pages markedly faster (docs/BENCHMARKS.md,
//           "Weights in huge pages"). Costs the read at load (64 MiB pieces over up to 8
//           threads) and resident memory the size of the files (not evictable); refused
//           (LoadRefusal) when the files are more than the memory available.
//   auto    loaded when the files fit in half the memory available at load, else mapped.
//
// The bytes are the same either way: results do not depend on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsagent::engine {

enum class WeightResidency { kAuto, kMapped, kLoaded };

// "auto" | "mmap" | "load"; nullopt for anything else.
std::optional<WeightResidency> ParseWeightResidency(std::string_view text);
// "auto", "mmap" or "load" (what ParseWeightResidency takes).
const char* WeightResidencyName(WeightResidency residency);

// What `requested` means for `bytes` of weight files with `available` bytes of memory (Linux's
// MemAvailable; 0 = unknown): kAuto becomes kLoaded when bytes <= available / 2, else kMapped;
// the others are returned as they are. Pure.
WeightResidency ResolveWeightResidency(WeightResidency requested, uint64_t bytes,
                                       uint64_t available);

// Why `bytes` of weight files cannot be loaded (an explicit kLoaded) with `available` bytes of
// memory (MemAvailable; 0 = unknown: no refusal): reading more than that into private memory would
// push the machine into swap or the OOM killer partway through, where mapping them costs nothing.
// nullopt when they fit. Pure.
std::optional<std::string> LoadRefusal(uint64_t bytes, uint64_t available);

// MemAvailable from /proc/meminfo in bytes; 0 when it cannot be read.
uint64_t AvailableMemoryBytes();

}  // namespace dsagent::engine
