// What backs an address of this process: the file it is mapped from, read off /proc/self/maps
// (e.g. whether a loaded checkpoint's pages went back to its file, engine/model/loaded_pages.h).
// Header-only; Linux.
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace dsagent::testing {

// The path of the file `p` is mapped from; "" for anonymous memory (the heap, a private copy);
// "?" when no mapping holds it.
inline std::string MappedFrom(const void* p) {
  std::ifstream maps("/proc/self/maps");
  const auto at = reinterpret_cast<uintptr_t>(p);
  for (std::string line; std::getline(maps, line);) {
    unsigned long begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &begin, &end) != 2 || at < begin || at >= end) {
      continue;
    }
    const size_t slash = line.find('/');
    return slash == std::string::npos ? "" : line.substr(slash);
  }
  return "?";
}

}  // namespace dsagent::testing
