#include "tools/file_content.h"

#include <algorithm>
#include <system_error>

#include "common/file_io.h"

namespace dsagent {
namespace fs = std::filesystem;

size_t CountLines(std::string_view text) {
  const auto newlines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  return newlines + (!text.empty() && text.back() != '\n' ? 1 : 0);
}

size_t LineNumberAt(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  return 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + pos, '\n'));
}

Expected<std::optional<std::string>, std::string> ReadIfRegularFile(const fs::path& path,
                                                                    const std::string& shown) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) return std::optional<std::string>();
  if (fs::is_directory(st)) return MakeUnexpected("'" + shown + "' is a directory");
  if (!fs::is_regular_file(st)) {
    return MakeUnexpected("'" + shown + "' is not a regular file (a device, FIFO or socket)");
  }
  auto content = ReadFileToString(path);
  if (!content) return MakeUnexpected("cannot read '" + shown + "': " + content.error());
  return std::optional<std::string>(std::move(*content));
}

}  // namespace dsagent
