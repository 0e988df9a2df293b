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

build() {  # build DIR SANITIZERS
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSAGENT_SANITIZE="$2" -DDSAGENT_WERROR=OFF \
    ${CMAKE_ARGS:-} >/dev/null
  ninja -C "$1"
}

status=0
if [ "$which" = asan ] || [ "$which" = all ]; then
  build build-asan address,undefined
  # detect_leaks: LeakSanitizer too. halt_on_error: the first report fails the test.
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)" "$@" || status=1
fi
if [ "$which" = tsan ] || [ "$which" = all ]; then
  build build-tsan thread
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir build-tsan --output-on-failure -j "$(nproc)" \
    -R 'ChatServer|ThreadPool|DiskPrefixStore|PrefixCache|RequestGate|RequestWatch|Eval|Cancel|Serve|Retry|Forward.*Thread' \
    "$@" || status=1
fi
exit $status
