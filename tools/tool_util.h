// Small helpers shared by the built-in tools: building error results and reading optional
// arguments. Arguments reaching Tool::Run have already been checked against the tool's schema by
// ToolRegistry::Dispatch (types, required properties), so these getters only supply defaults.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "tools/tool.h"

namespace dsagent {

// What a failed result's text starts with: tool messages have no error flag on the wire.
inline constexpr std::string_view kToolErrorPrefix = "Error: ";

// A failed ToolResult carrying `message` (what the model reads) and optional details; the text
// starts with kToolErrorPrefix.
inline ToolResult ErrorResult(std::string message, Json details = Json::object()) {
  ToolResult r;
  r.ok = false;
  r.output = message.rfind(kToolErrorPrefix, 0) == 0 ? std::move(message)
                                                     : std::string(kToolErrorPrefix) + message;
  r.details = std::move(details);
  return r;
}

// The first line of a failed result's text without kToolErrorPrefix: what a front end prints
// after its own "error:" label, so the word appears once.
inline std::string ToolErrorHeadline(const ToolResult& result) {
  std::string_view first(result.output);
  first = first.substr(0, first.find('\n'));
  if (first.substr(0, kToolErrorPrefix.size()) == kToolErrorPrefix) {
    first.remove_prefix(kToolErrorPrefix.size());
  }
  return std::string(first);
}

// args[key] as a string, or `fallback` when absent or not a string.
inline std::string StringArg(const Json& args, const char* key, std::string fallback = {}) {
  return StringField(args, key, fallback);
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
