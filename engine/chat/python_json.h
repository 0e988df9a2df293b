// Python's `json.dumps(value, ensure_ascii=False)` byte for byte: ", " and ": " separators, keys in
// insertion order, non-ASCII kept, Python's float repr. The V4 chat template renders tool schemas
// and non-string tool arguments this way, so the prompt's bytes depend on it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dsagent::engine {

using OrderedJson = nlohmann::ordered_json;

std::string PythonJsonDumps(const OrderedJson& value);

}  // namespace dsagent::engine
