#!/usr/bin/env bash
# The test command: installs dependencies if missing, builds, and runs every test suite.
# CI (.ci/run) calls exactly this. Extra arguments go to ctest (e.g. -R cli_e2e).
# The suites include the CUDA backend's device tests on the CPU emulator (tests/cuda_emulator,
# ctest names emulated.*), built in the same tree; CMAKE_ARGS=-DDSAGENT_CUDA_EMULATED_TESTS=OFF
# leaves them out.
# It also installs the polyglot eval toolchains of EVAL_LANGS (default: all six languages; CI's
# time with them is in docs/BENCHMARKS.md), so tests/evals/polyglot_test.cc runs one exercise of
# each with the oracle and noop instead of skipping it. EVAL_LANGS= installs none.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
EVAL_LANGS="${EVAL_LANGS-cpp go java javascript python rust}"
# shellcheck disable=SC2086  # a list of words
[ -z "$EVAL_LANGS" ] || scripts/setup-eval-toolchains.sh $EVAL_LANGS
exec ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@"
