// Whole-file helpers shared by write_file and edit_file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace dsagent {

// Number of lines in `text` as an editor counts them: newlines, plus one for a last line without
// a trailing newline.
size_t CountLines(std::string_view text);

// 1-based line number of byte offset `pos` in `text`.
size_t LineNumberAt(std::string_view text, size_t pos);

// The content of `path` when it is a regular file; nullopt when nothing exists there. Error (a
// one-line message naming `shown`, the path as the model wrote it) for a directory, a device, FIFO
// or socket, or a read failure.
Expected<std::optional<std::string>, std::string> ReadIfRegularFile(
    const std::filesystem::path& path, const std::string& shown);

}  // namespace dsagent
