// UTF-8 hygiene. Everything that enters a model request (file contents, command output) must be
// valid UTF-8 so it serialises to JSON deterministically; invalid bytes become U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace dsagent {

// Length of the valid UTF-8 sequence that starts at in[i] (1-4), or 0 when the bytes there are
// not one (a stray continuation byte, a truncated, overlong or surrogate sequence). i < in.size().
size_t Utf8SequenceLength(std::string_view in, size_t i);

// Returns `in` with every invalid or truncated UTF-8 sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view in);

// Largest n <= max_bytes such that in.substr(0, n) does not split a multi-byte sequence.
size_t Utf8SafePrefixLength(std::string_view in, size_t max_bytes);

}  // namespace dsagent
