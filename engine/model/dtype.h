// Storage dtypes of V4 checkpoints, as safetensors names them.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dsagent::engine {

enum class DType { kBF16, kF32, kF8E4M3, kF8E8M0, kI8, kI32, kI64 };

// "BF16", "F32", "F8_E4M3", "F8_E8M0", "I8", "I32", "I64" -> DType; nullopt for anything else.
std::optional<DType> ParseDType(std::string_view name);
const char* DTypeName(DType dtype);
size_t DTypeBytes(DType dtype);

}  // namespace dsagent::engine
