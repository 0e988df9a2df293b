// Binary-file detection, shared by read_file, edit_file and grep so that they agree on what is
// text. The heuristic is git's (a NUL byte near the start) plus a check that the bytes are mostly
// valid UTF-8, so Latin-1 text with a few accents still counts as text.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "common/expected.h"

namespace dsagent {

// How much of a file's start is examined.
inline constexpr size_t kBinarySniffBytes = 8192;

// True when `sample` contains a NUL byte, or when more than 30% of its bytes are not valid UTF-8.
bool LooksBinary(std::string_view sample);

// LooksBinary() on the first kBinarySniffBytes of the file. Error: the OS error, naming the path.
Expected<bool, std::string> FileLooksBinary(const std::filesystem::path& path);

}  // namespace dsagent
