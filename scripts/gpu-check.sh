#!/usr/bin/env bash
# The CUDA backend's device checks in one run, for a session lent a GPU (docs/BENCHMARKS.md,
# "CUDA kernels"): the CUDA tests with DSAGENT_REQUIRE_CUDA=1 (a skip is a failure there; the whole
# engine_cuda_test binary: ops, forward ops, model, decoder, device sequences and their
# snapshot/restore, the device SequenceModel — tests/engine/CMakeLists.txt lists its files), the
# matvec bandwidth benchmark, the forward-op kernels' timings and a V4-Flash-shaped block's decode
# time per token; results go to $OUT (default ./gpu-check-out).
#
# The lent machine (an H200 with 16 cores) has nvcc, CMake and ninja but not the project's Debian
# packages (libgit2, GoogleTest, ...) and no network, so the binaries are built here and carried:
#   here:   scripts/gpu-check.sh pack        # builds engine_cuda_test + the three CUDA benches with
#                                            # CUDA ON into build/, copies them (and the shared
#                                            # libraries they need) to .gpu-check/ (git-ignored)
#   there:  scripts/gpu-check.sh run         # (device tool: carry [".gpu-check"], timeout ~300 s)
# On a full development machine with a GPU, `scripts/gpu-check.sh build-run` does both in place
# (configure with CUDA ON, ninja -j$(nproc), run).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"
PACK=.gpu-check
BUILD_DIR="${BUILD_DIR:-build}"
TARGETS=(engine_cuda_test cuda_matvec_bench cuda_ops_bench cuda_decode_bench)

build() {
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
    -DDSAGENT_CUDA=ON ${CMAKE_ARGS:-} >/dev/null
  cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target "${TARGETS[@]}"
}

pack() {
  build
  rm -rf "$PACK" && mkdir -p "$PACK/lib"
  cp "$BUILD_DIR/tests/engine/engine_cuda_test" "$BUILD_DIR/bench/cuda_matvec_bench" \
    "$BUILD_DIR/bench/cuda_ops_bench" "$BUILD_DIR/bench/cuda_decode_bench" "$PACK/"
  # Every shared library but glibc's travels along (the device image is not Debian: libstdc++
  # must be GCC 12's or newer, libcrypto 3). The binaries need glibc >= 2.34.
  for bin in "$PACK"/engine_cuda_test "$PACK"/cuda_*_bench; do
    ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libdl|librt|libpthread)\.so' |
      xargs -r -I{} cp -L {} "$PACK/lib/"
  done
  grep -qx "/$PACK/" .git/info/exclude 2>/dev/null || echo "/$PACK/" >>"$(git rev-parse --git-path info/exclude)"
  du -sh "$PACK"
}

run() {
  local test_bin="$1" bench_bin="$2" ops_bench_bin="$3" decode_bench_bin="$4"
  OUT="${OUT:-$PWD/gpu-check-out}"
  mkdir -p "$OUT"
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
  local rc=0
  export DSAGENT_REQUIRE_CUDA=1 DSAGENT_SOURCE_ROOT="$PWD"
  export LD_LIBRARY_PATH="$PWD/$PACK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  "$test_bin" 2>&1 | tee "$OUT/cuda_tests.txt" || rc=1
  "$bench_bin" --json "$OUT/cuda_matvec_bench.json" 2>&1 |
    tee "$OUT/cuda_matvec_bench.txt" || rc=1
  "$ops_bench_bin" --json "$OUT/cuda_ops_bench.json" 2>&1 | tee "$OUT/cuda_ops_bench.txt" || rc=1
  "$decode_bench_bin" --json "$OUT/cuda_decode_bench.json" 2>&1 |
    tee "$OUT/cuda_decode_bench.txt" || rc=1
  echo "gpu-check: $([ $rc = 0 ] && echo passed || echo FAILED); results in $OUT"
  return $rc
}

case "$MODE" in
  pack) pack ;;
  run)
    [ -x "$PACK/engine_cuda_test" ] || { echo "gpu-check: no $PACK/ (run 'scripts/gpu-check.sh pack' first and carry it)" >&2; exit 2; }
    run "$PACK/engine_cuda_test" "$PACK/cuda_matvec_bench" "$PACK/cuda_ops_bench" \
      "$PACK/cuda_decode_bench" ;;
  build-run)
    build && run "$BUILD_DIR/tests/engine/engine_cuda_test" "$BUILD_DIR/bench/cuda_matvec_bench" \
      "$BUILD_DIR/bench/cuda_ops_bench" "$BUILD_DIR/bench/cuda_decode_bench" ;;
  *) echo "usage: scripts/gpu-check.sh pack|run|build-run" >&2; exit 2 ;;
esac
