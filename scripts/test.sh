#!/usr/bin/env bash
# The test command: installs dependencies if missing, builds, and runs every test suite.
# CI (.ci/run) calls exactly this. Extra arguments go to ctest (e.g. -R cli_e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR="${BUILD_DIR:-build}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
