// Whole-file reads and crash-safe writes.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace dsagent {

// Reads the whole file. Error: a message naming the path and the OS error.
Expected<std::string, std::string> ReadFileToString(const std::filesystem::path& path);

// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename over the
// target, fsync of the directory. A crash leaves either the old or the new content, never a mix.
// Creates missing parent directories. Error: a message naming the path and the OS error
// (e.g. "No space left on device"); the original file is untouched on error.
Expected<Ok, std::string> WriteFileAtomic(
    const std::filesystem::path& path, std::string_view data,
    std::filesystem::perms perms = std::filesystem::perms::none);

}  // namespace dsagent
