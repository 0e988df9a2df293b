#!/usr/bin/env bash
# The test suite under sanitizers (docs/RELIABILITY.md):
#   scripts/sanitize.sh [asan|tsan|all] [ctest args...]
# asan: every test under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/).
# tsan: the concurrency tests (serve, thread pool, prefix store, eval jobs, cancellation) under
#       ThreadSanitizer (build-tsan/).
# Each is a full build of its own (about as long as the normal build, tests run 2-5x slower).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
[ $# -gt 0 ] && shift
scripts/setup.sh --no-build

# CUDA off: nvcc's kernels would not be instrumented, the tests run the CPU backend, and the CUDA
# runtime needs ASan's shadow gap unprotected. The emulated device tests are left out too: their
# fibers want bigger stacks under ASan and are not annotated for TSan (tests/cuda_emulator/README.md
# has their own AddressSanitizer build). CMAKE_ARGS comes last, so it can turn either back on.
build() {  # build DIR SANITIZERS
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSAGENT_SANITIZE="$2" -DDSAGENT_WERROR=OFF \
    -DDSAGENT_CUDA=OFF -DDSAGENT_CUDA_EMULATED_TESTS=OFF ${CMAKE_ARGS:-} >/dev/null
  ninja -C "$1"
}

# The concurrency tests: the server and its admission/watch threads, batched decode (the
# ForwardBatcher and batched forward calls), the thread pool and what
# runs on it (forward passes, checkpoint writing), the prefix stores, eval's parallel jobs,
# cancellation and interruption from other threads, retries, the process-group watcher, MCP's
# stdio transport. `ctest --test-dir build-tsan -N -R "$TSAN_TESTS"` lists them.
TSAN_TESTS='ChatServer|ForwardBatcher|BatchForward|Thread|DiskPrefixStore|PrefixCache|RequestGate|RequestWatch|Eval|Cancel|Interrupt|Parallel|Concurren|Serve|Retry|ProcessGroupGuard|StdioTransport|LocalProvider'

status=0
if [ "$which" = asan ] || [ "$which" = all ]; then
  build build-asan address,undefined
  # detect_leaks: LeakSanitizer too. System libraries' own leaks are suppressed by the rules of
  # lsan.supp (which and why), compiled into every executable (cmake/LsanSuppressions.cmake), so
  # they hold in processes the tests start with a scrubbed environment as well.
  # halt_on_error: the first report fails the test.
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)" "$@" || status=1
fi
if [ "$which" = tsan ] || [ "$which" = all ]; then
  build build-tsan thread
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir build-tsan --output-on-failure -j "$(nproc)" \
    -R "$TSAN_TESTS" \
    "$@" || status=1
fi
exit $status
