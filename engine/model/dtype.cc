#include "engine/model/dtype.h"

#include "common/name_table.h"

namespace dsagent::engine {

namespace {
// The safetensors header's names.
constexpr EnumName<DType> kDTypeNames[] = {{DType::kBF16, "BF16"},      {DType::kF32, "F32"},
                                           {DType::kF8E4M3, "F8_E4M3"}, {DType::kF8E8M0, "F8_E8M0"},
                                           {DType::kI8, "I8"},          {DType::kI32, "I32"},
                                           {DType::kI64, "I64"}};
}  // namespace

std::optional<DType> ParseDType(std::string_view name) { return ValueNamed(kDTypeNames, name); }

const char* DTypeName(DType dtype) { return NameOf(kDTypeNames, dtype).data(); }

size_t DTypeBytes(DType dtype) {
  switch (dtype) {
    case DType::kBF16:
      return 2;
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kI64:
      return 8;
    case DType::kF8E4M3:
    case DType::kF8E8M0:
    case DType::kI8:
      return 1;
  }
  return 1;
}

}  // namespace dsagent::engine
