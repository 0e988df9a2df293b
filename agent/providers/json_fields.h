// Tolerant field access for JSON from servers: a missing field or one of the wrong type reads as
// absent instead of throwing, because wire data is not ours to trust.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/json.h"

namespace dsagent {

// obj[key] when obj is an object and the value is an integer; otherwise nullopt.
inline std::optional<int64_t> OptionalInt(const Json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

// obj[key] when obj is an object and the value is a string; otherwise nullopt.
inline std::optional<std::string> OptionalString(const Json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// obj[key] when obj is an object holding key; otherwise a null Json.
inline const Json& FieldOrNull(const Json& obj, const char* key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

}  // namespace dsagent
