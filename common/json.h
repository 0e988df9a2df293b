// Canonical JSON. nlohmann::json keeps object keys sorted, so dump() without indentation is a
// stable byte form; CanonicalJson() adds the one missing guarantee (invalid UTF-8 never throws).
// Every request body and every trace line goes through it so that identical values give identical
// bytes — the prefix cache depends on it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dsagent {

using Json = nlohmann::json;

std::string CanonicalJson(const Json& value);

// object[key] when `object` is an object holding a string there; `fallback` otherwise (missing key,
// another type, or `object` not an object). For reading fields of untrusted JSON without throwing.
std::string StringField(const Json& object, const char* key, const std::string& fallback = "");

}  // namespace dsagent
