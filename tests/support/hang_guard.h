// Hang guards for tests: the timeouts that only stop a test that would otherwise wait forever (an
// HTTP client's read timeout, say), never the thing a test asserts on.
#pragma once

namespace dsagent::testing {

// `seconds`, three times over in an AddressSanitizer or ThreadSanitizer build, as ctest's per-test
// limits are (tests/CMakeLists.txt). Under TSan on the loaded 2-vCPU VM a server test's first
// request (a cold 701-token prompt on the tiny model) took over 60 s inside a `ctest -j2` run and
// 25 s alone (docs/RELIABILITY.md, session 12): a guard sized for the normal build failed tests
// that were only slow.
constexpr int HangGuardSeconds(int seconds) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)  // gcc
  return seconds * 3;
#elif defined(__has_feature)  // clang
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return seconds * 3;
#else
  return seconds;
#endif
#else
  return seconds;
#endif
}

}  // namespace dsagent::testing
