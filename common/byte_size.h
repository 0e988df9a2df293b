// Byte sizes as people write them on command lines and in config: "1000000", "512M", "8G",
// "8GiB", "2T" (binary units: K = 1024). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dsagent {

// The number of bytes, or nullopt for anything else (empty, negative, an unknown unit).
std::optional<int64_t> ParseByteSize(const std::string& text);

}  // namespace dsagent
