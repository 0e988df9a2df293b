// UTF-8 hygiene. Everything that enters a model request (file contents, command output) must be
// valid UTF-8 so it serialises to JSON deterministically; invalid bytes become U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace dsagent {

// Returns `in` with every invalid or truncated UTF-8 sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view in);

// Largest n <= max_bytes such that in.substr(0, n) does not split a multi-byte sequence.
size_t Utf8SafePrefixLength(std::string_view in, size_t max_bytes);

}  // namespace dsagent
