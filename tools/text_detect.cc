#include "tools/text_detect.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "common/utf8.h"

namespace dsagent {
namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

size_t CountReplacementChars(std::string_view s) {
  size_t n = 0;
  for (size_t pos = s.find(kReplacementChar); pos != std::string_view::npos;
       pos = s.find(kReplacementChar, pos + kReplacementChar.size())) {
    ++n;
  }
  return n;
}

}  // namespace

bool LooksBinary(std::string_view sample) {
  if (sample.find('\0') != std::string_view::npos) return true;
  if (sample.empty()) return false;
  // SanitizeUtf8 turns each invalid byte into U+FFFD; the growth in U+FFFD count is the number of
  // invalid bytes (the sample may already contain genuine U+FFFD characters).
  const size_t invalid =
      CountReplacementChars(SanitizeUtf8(sample)) - CountReplacementChars(sample);
  return invalid * 10 > sample.size() * 3;
}

Expected<bool, std::string> FileLooksBinary(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeUnexpected(path.string() + ": " + std::strerror(errno));
  std::string buf(kBinarySniffBytes, '\0');
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  if (in.bad()) return MakeUnexpected(path.string() + ": read error");
  buf.resize(static_cast<size_t>(in.gcount()));
  return LooksBinary(buf);
}

}  // namespace dsagent
