// The contract of a fuzz target (tests/fuzz/fuzz_*.cc): one function, LLVMFuzzerTestOneInput, that
// feeds arbitrary bytes to one parser and returns 0. A crash, a sanitizer report or a failed
// FUZZ_CHECK is a finding. The same target links either with libFuzzer (scripts/fuzz.sh, clang) or
// with replay_main.cc (every build; ctest replays the corpus, the regressions and mutations of both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

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

}  // namespace dsagent::fuzz
