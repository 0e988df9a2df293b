#!/usr/bin/env bash
# The test command: installs dependencies if missing, builds, and runs every test suite.
# CI (.ci/run) calls exactly this. Extra arguments go to ctest (e.g. -R cli_e2e), for both runs:
# the main build's suites, then the CUDA device tests on the CPU emulator (tests/cuda_emulator).
# It also installs the polyglot eval toolchains of EVAL_LANGS (default: all six languages; CI's
# time with them is in docs/BENCHMARKS.md), so tests/evals/polyglot_test.cc runs one exercise of
# each with the oracle and noop instead of skipping it. EVAL_LANGS= installs none.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
EVAL_LANGS="${EVAL_LANGS-cpp go java javascript python rust}"
# shellcheck disable=SC2086  # a list of words
[ -z "$EVAL_LANGS" ] || scripts/setup-eval-toolchains.sh $EVAL_LANGS
BUILD_DIR="${BUILD_DIR:-build}"
# The CUDA backend's device tests on the CPU (tests/cuda_emulator): a second, smaller build that
# compiles the engine and its CUDA sources against the emulator. CUDA_EMULATION=0 skips it.
EMU_BUILD_DIR="${EMU_BUILD_DIR:-$BUILD_DIR-emu}"
if [ "${CUDA_EMULATION:-1}" != 0 ]; then
  # shellcheck disable=SC2086  # CMAKE_ARGS is a list of words; DSAGENT_CUDA=EMULATE comes last
  cmake -S . -B "$EMU_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
    ${CMAKE_ARGS:-} -DDSAGENT_CUDA=EMULATE
  cmake --build "$EMU_BUILD_DIR" -j "$(nproc)"
fi
status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@" || status=$?
if [ "${CUDA_EMULATION:-1}" != 0 ]; then
  echo "test: the CUDA device tests on the emulated device ($EMU_BUILD_DIR)"
  ctest --test-dir "$EMU_BUILD_DIR" --output-on-failure -j "$(nproc)" "$@" || status=$?
fi
exit "$status"
