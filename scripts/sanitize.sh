#!/usr/bin/env bash
# The test suite under sanitizers (docs/RELIABILITY.md):
#   scripts/sanitize.sh [asan|tsan|racecheck|memcheck|all] [ctest args...]
# asan: every test under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/).
# tsan: the concurrency tests (serve, thread pool, prefix store, eval jobs, cancellation) under
#       ThreadSanitizer (build-tsan/).
# racecheck: the CUDA kernels' races on the CPU emulator under ThreadSanitizer (build-race/, the
#       engine and the emulated device tests only; tests/cuda_emulator/race_check.h): a barrier,
#       __syncwarp or fence missing between two CUDA threads, or a read before a programmatic
#       launch's wait, is a report naming the kernel. Extra arguments are gtest arguments for the
#       device tests (default: RACECHECK_TESTS below).
# memcheck: the CUDA kernels' memory errors on the CPU emulator under AddressSanitizer and
#       UndefinedBehaviorSanitizer (build-memcheck/, the engine and the emulated device tests only):
#       a kernel reading or writing past a device allocation or its dynamic shared memory, a
#       misaligned vector load (a fault on a GPU), an overflowing shift or signed index, as
#       compute-sanitizer's memcheck would on a device. Every `emulated.*` entry of the test
#       command (ctest -R '^emulated\.'; extra arguments are ctest arguments).
# Each is a full build of its own (about as long as the normal build, tests run 2-5x slower).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
[ $# -gt 0 ] && shift
scripts/setup.sh --no-build

# CUDA off: nvcc's kernels would not be instrumented, the tests run the CPU backend, and the CUDA
# runtime needs ASan's shadow gap unprotected. The emulated device tests are left out too: their
# fibers want bigger stacks under ASan (tests/cuda_emulator/README.md has their own AddressSanitizer
# build), and under TSan they are the race check's, below. CMAKE_ARGS comes last, so it can turn
# either back on.
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

# The device tests the race check runs by default: the op tests (each kernel of the backend, its
# rare paths included) and the graphs, not the long ones that run the same kernels token by token
# or over many shapes (under ThreadSanitizer the emulator is 20-150x slower: 64 s for the tiled
# matvec's shapes and rare paths, 18 min for the compressor's rows against its token steps;
# docs/RELIABILITY.md).
RACECHECK_TESTS='CudaOpsTest.*:CudaForwardOpsTest.*:VectorStepsTest.*:CudaTensorMatVecTest.*:DecodeGraphsGpuTest.*:CudaRuntimeTest.*'
RACECHECK_TESTS+='-*MultiRowMatVecGivesEachRowItsOneRowBits:*AttentionDecodeMatchesTheCpu*:*CompressProjectedRowsGivesTheRowStepsBits:*BlockDecodeAndHeadDecode*:*IndexerSelectMatchesTheCpuSelection*:*CompressTokenMatchesTheCpu*:*SparseAttentionRowsGivesEachRowsOwnListsBits:*SparseAttentionMatchesTheCpuHeads:*MoeDecodeMatchesTheCpuMoeTokenByToken*'

status=0
if [ "$which" = racecheck ] || [ "$which" = all ]; then
  cmake -S . -B build-race -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSAGENT_SANITIZE=thread \
    -DDSAGENT_WERROR=OFF -DDSAGENT_CUDA=EMULATE ${CMAKE_ARGS:-} >/dev/null
  ninja -C build-race cuda_emulator_test engine_cuda_test_emulated
  # Two OS threads for the blocks: blocks on different threads are what a race between blocks
  # needs (those of one thread run one after another). halt_on_error: a report fails the run.
  export DSAGENT_REQUIRE_CUDA=1 DSAGENT_CUDA_EMULATOR_THREADS=2
  TSAN_OPTIONS=halt_on_error=1 build-race/tests/cuda_emulator/cuda_emulator_test || status=1
  args=("--gtest_filter=$RACECHECK_TESTS")
  if [ "$which" = racecheck ] && [ $# -gt 0 ]; then args=("$@"); fi
  TSAN_OPTIONS=halt_on_error=1 build-race/tests/cuda_emulator/engine_cuda_test "${args[@]}" || status=1
  [ "$which" = racecheck ] && exit $status
fi
if [ "$which" = memcheck ] || [ "$which" = all ]; then
  # UndefinedBehaviorSanitizer without its null check: GCC 12's test of an `extern thread_local`'s
  # address (the emulator's threadIdx, cuda_runtime.h) reads the flags of the check before it, so
  # every kernel reported "load of null pointer" at its first threadIdx (the pointer was not null).
  ubsan=alignment,bool,bounds,enum,float-cast-overflow,integer-divide-by-zero,nonnull-attribute
  ubsan+=,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable,vla-bound
  ubsan+=,vptr,pointer-overflow,builtin
  cmake -S . -B build-memcheck -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDSAGENT_SANITIZE="address,$ubsan" -DDSAGENT_WERROR=OFF -DDSAGENT_CUDA=EMULATE \
    ${CMAKE_ARGS:-} >/dev/null
  ninja -C build-memcheck cuda_emulator_test engine_cuda_test_emulated \
    local_engines_cuda_test_emulated cuda_model_bench_emulated cuda_decode_bench_emulated
  # A CUDA thread's fiber stack: ASan's redzones want more than the default 256 KiB.
  # halt_on_error: the first report fails its test (UBSan's too: -fno-sanitize-recover).
  export DSAGENT_CUDA_EMULATOR_STACK_KIB=1024
  export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1
  build-memcheck/tests/cuda_emulator/cuda_emulator_test || status=1
  # Every emulated entry of the test command: the device tests, their runs under the emulator's
  # other schedules and device limits, and the model bench's runs with the engine's switches.
  ctest --test-dir build-memcheck --output-on-failure -j "$(nproc)" -R '^emulated\.' "$@" ||
    status=1
  [ "$which" = memcheck ] && exit $status
fi
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
