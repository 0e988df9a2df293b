// Small helpers shared by the built-in tools: building error results and reading optional
// arguments. Arguments reaching Tool::Run have already been checked against the tool's schema by
// ToolRegistry::Dispatch (types, required properties), so these getters only supply defaults.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "tools/tool.h"

namespace dsagent {

// A failed ToolResult carrying `message` (what the model reads) and optional details. Tool messages
// have no error flag on the wire, so the text itself starts with "Error: ".
inline ToolResult ErrorResult(std::string message, Json details = Json::object()) {
  ToolResult r;
  r.ok = false;
  r.output = message.rfind("Error: ", 0) == 0 ? std::move(message) : "Error: " + message;
  r.details = std::move(details);
  return r;
}

// args[key] as a string, or `fallback` when absent or not a string.
inline std::string StringArg(const Json& args, const char* key, std::string fallback = {}) {
  auto it = args.find(key);
  return it != args.end() && it->is_string() ? it->get<std::string>() : std::move(fallback);
}

// args[key] as an integer, or `fallback` when absent or not an integer.
inline int64_t IntArg(const Json& args, const char* key, int64_t fallback) {
  auto it = args.find(key);
  return it != args.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

// args[key] as a boolean, or `fallback` when absent or not a boolean.
inline bool BoolArg(const Json& args, const char* key, bool fallback) {
  auto it = args.find(key);
  return it != args.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// True when args has `key` with a non-null value.
inline bool HasArg(const Json& args, const char* key) {
  auto it = args.find(key);
  return it != args.end() && !it->is_null();
}

}  // namespace dsagent
