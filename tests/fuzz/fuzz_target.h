// The contract of a fuzz target (tests/fuzz/fuzz_*.cc): one function, LLVMFuzzerTestOneInput, that
// feeds arbitrary bytes to one parser and returns 0. A crash, a sanitizer report or a failed
// FUZZ_CHECK is a finding. The same target links either with libFuzzer (scripts/fuzz.sh, clang) or
// with replay_main.cc (every build; ctest replays the corpus, the regressions and mutations of both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// An invariant the target states about the parser (a round trip, chunking independence, a bound).
// Aborts so that libFuzzer and the replay driver both record the input that broke it.
#define FUZZ_CHECK(cond, what)                                                          \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, what); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace dsagent::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Replaces the contents of `path` with `bytes` (plain, not atomic: fuzz loops write per input).
inline void WriteBytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A per-process path in the temp directory ("dsagent-fuzz-<pid>-<name>") for targets whose parser
// reads files; removed (with anything below it) when the process exits normally.
class ScratchPath {
 public:
  explicit ScratchPath(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              ("dsagent-fuzz-" + std::to_string(getpid()) + "-" + name)) {}
  ~ScratchPath() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchPath(const ScratchPath&) = delete;
  ScratchPath& operator=(const ScratchPath&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace dsagent::fuzz
