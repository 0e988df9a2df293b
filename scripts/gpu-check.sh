#!/usr/bin/env bash
# The CUDA backend's device checks in one run, for a session lent a GPU (docs/BENCHMARKS.md,
# "CUDA kernels"): the CUDA tests with DSAGENT_REQUIRE_CUDA=1 (a skip is a failure there; the whole
# engine_cuda_test binary: ops, forward ops, model, decoder, device sequences and their
# snapshot/restore, the device SequenceModel — tests/engine/CMakeLists.txt lists its files), the
# matvec bandwidth benchmark, the forward-op kernels' timings, a V4-Flash-shaped block's decode
# time per token (all experts on the device, then half of them offloaded to the host), and a
# V4-Flash-shaped synthetic checkpoint of SYNTH_LAYERS (4) layers decoded end to end through the
# engine's device SequenceModel (1 sequence, 8, and half the experts offloaded); results go to
# $OUT (default ./gpu-check-out).
#
# The lent machine (an H200 with 16 cores) has nvcc, CMake and ninja but not the project's Debian
# packages (libgit2, GoogleTest, ...) and no network, so the binaries are built here and carried:
#   here:   scripts/gpu-check.sh pack        # builds engine_cuda_test + the four CUDA benches with
#                                            # CUDA ON into build/, copies them (and the shared
#                                            # libraries they need) to .gpu-check/ (git-ignored)
#   there:  scripts/gpu-check.sh run         # (device tool: carry [".gpu-check"], timeout 600 s;
#                                            # about 23 s without the model bench on 2026-12-04)
# On a full development machine with a GPU, `scripts/gpu-check.sh build-run` does both in place
# (configure with CUDA ON, ninja -j$(nproc), run).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"
PACK=.gpu-check
BUILD_DIR="${BUILD_DIR:-build}"
TARGETS=(engine_cuda_test cuda_matvec_bench cuda_ops_bench cuda_decode_bench cuda_model_bench)

build() {
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
    -DDSAGENT_CUDA=ON ${CMAKE_ARGS:-} >/dev/null
  cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target "${TARGETS[@]}"
}

pack() {
  build
  rm -rf "$PACK" && mkdir -p "$PACK/lib"
  # Without their debug sections (the symbols stay): the device tool carries 64 MiB at most.
  for bin in "$BUILD_DIR/tests/engine/engine_cuda_test" "$BUILD_DIR"/bench/cuda_{matvec,ops,decode,model}_bench; do
    strip --strip-debug -o "$PACK/$(basename "$bin")" "$bin"
  done
  # Every shared library but glibc's travels along (the device image is not Debian: libstdc++
  # must be GCC 12's or newer, libcrypto 3). The binaries need glibc >= 2.34.
  for bin in "$BUILD_DIR/tests/engine/engine_cuda_test" "$BUILD_DIR"/bench/cuda_*_bench; do
    ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libdl|librt|libpthread)\.so' |
      xargs -r -I{} cp -L {} "$PACK/lib/"
  done
  grep -qx "/$PACK/" .git/info/exclude 2>/dev/null || echo "/$PACK/" >>"$(git rev-parse --git-path info/exclude)"
  du -sh "$PACK"
}

# Every test in its own process (a kernel fault poisons its CUDA context for whatever runs after it
# in that process), eight at a time, each under a time limit, so one fault or hang costs one test and
# not the session's short device time. Failed tests are then rerun under compute-sanitizer when the
# device has it (the first few only). Each step's output lands in $OUT.
run_tests() {
  local test_bin="$1" out="$2"
  mkdir -p "$out/tests"
  "$test_bin" --gtest_list_tests | awk '
    /^[^ ]/ { suite = $1; next }
    /^  /   { print suite $1 }' >"$out/test-names.txt"
  export TEST_BIN="$test_bin" TEST_OUT="$out/tests"
  xargs -P "${TEST_JOBS:-8}" -I{} bash -c '
    timeout "${TEST_TIMEOUT_S:-90}" "$TEST_BIN" --gtest_filter="{}" >"$TEST_OUT/$(echo "{}" | tr / _).txt" 2>&1
    echo "$? {}"' <"$out/test-names.txt" | sort -k2 >"$out/test-results.txt"
  local failed
  failed=$(awk '$1 != 0 {print $2}' "$out/test-results.txt")
  echo "tests: $(wc -l <"$out/test-results.txt") run, $(echo -n "$failed" | grep -c . || true) failed"
  for name in $failed; do
    local file; file=$(echo "$name" | tr / _)
    echo "--- FAILED (rc $(awk -v n="$name" '$2 == n {print $1}' "$out/test-results.txt")): $name"
    grep -E "Failure|error|Error|expected|Which is|identical|CUDA|cuda|what\(\)" \
      "$out/tests/$file.txt" | head -12
  done
  grep -h "identical\|top-1\|max |d\|match" "$out"/tests/*.txt | head -60 >"$out/test-figures.txt" || true
  local sanitizer
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ -n "$failed" ] && [ -n "$sanitizer" ]; then
    for name in $(echo "$failed" | head -"${SANITIZE_MAX:-3}"); do
      local file; file=$(echo "$name" | tr / _)
      timeout 60 "$sanitizer" --tool memcheck --print-limit 20 "$test_bin" --gtest_filter="$name" \
        >"$out/tests/$file.memcheck.txt" 2>&1 || true
      echo "--- memcheck $name"; grep -E "Invalid|Address|at .*in |ERROR SUMMARY" \
        "$out/tests/$file.memcheck.txt" | head -10
    done
  fi
  # One archive: the device tool brings back a limited number of files.
  tar czf "$out/tests.tgz" -C "$out" tests test-names.txt test-results.txt && rm -rf "$out/tests"
  [ -z "$failed" ]
}

run() {
  local test_bin="$1" bench_bin="$2" ops_bench_bin="$3" decode_bench_bin="$4" model_bench_bin="$5"
  OUT="${OUT:-$PWD/gpu-check-out}"
  mkdir -p "$OUT"
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
  head -12 "$OUT/nvidia-smi.txt"
  local rc=0
  export DSAGENT_REQUIRE_CUDA=1 DSAGENT_SOURCE_ROOT="$PWD"
  export LD_LIBRARY_PATH="$PWD/$PACK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  run_tests "$test_bin" "$OUT" || rc=1
  local limit="${BENCH_TIMEOUT_S:-60}"
  timeout "$limit" "$bench_bin" --json "$OUT/cuda_matvec_bench.json" >"$OUT/cuda_matvec_bench.txt" 2>&1 || rc=1
  tail -20 "$OUT/cuda_matvec_bench.txt"
  timeout "$limit" "$ops_bench_bin" --json "$OUT/cuda_ops_bench.json" >"$OUT/cuda_ops_bench.txt" 2>&1 || rc=1
  tail -20 "$OUT/cuda_ops_bench.txt"
  timeout "$limit" "$decode_bench_bin" --json "$OUT/cuda_decode_bench.json" >"$OUT/cuda_decode_bench.txt" 2>&1 || rc=1
  tail -20 "$OUT/cuda_decode_bench.txt"
  # The expert offload: half of each block's routed experts kept on the host (this machine's CPUs).
  timeout "$limit" "$decode_bench_bin" --context 512 --experts-on-device 128 \
    --json "$OUT/cuda_decode_bench_offload.json" >"$OUT/cuda_decode_bench_offload.txt" 2>&1 || rc=1
  tail -20 "$OUT/cuda_decode_bench_offload.txt"
  # End to end through the engine's device SequenceModel (--device cuda): a V4-Flash-shaped
  # synthetic checkpoint of a few layers written here first, then one sequence, eight, and one with
  # half the routed experts kept on the host.
  local model="${MODEL_DIR:-/tmp/gpu-check-flash}" layers="${SYNTH_LAYERS:-4}"
  timeout "${MODEL_TIMEOUT_S:-300}" "$model_bench_bin" --model "$model" --synth-layers "$layers" \
    --prefill 64 --steps 32 --json "$OUT/cuda_model_bench.json" >"$OUT/cuda_model_bench.txt" 2>&1 || rc=1
  tail -12 "$OUT/cuda_model_bench.txt"
  timeout "${MODEL_TIMEOUT_S:-300}" "$model_bench_bin" --model "$model" --prefill 16 --steps 16 \
    --sequences 8 --json "$OUT/cuda_model_bench_8.json" >"$OUT/cuda_model_bench_8.txt" 2>&1 || rc=1
  tail -4 "$OUT/cuda_model_bench_8.txt"
  timeout "${MODEL_TIMEOUT_S:-300}" "$model_bench_bin" --model "$model" --prefill 16 --steps 16 \
    --expert-share 0.5 --json "$OUT/cuda_model_bench_offload.json" \
    >"$OUT/cuda_model_bench_offload.txt" 2>&1 || rc=1
  tail -12 "$OUT/cuda_model_bench_offload.txt"
  echo "gpu-check: $([ $rc = 0 ] && echo passed || echo FAILED); results in $OUT"
  return $rc
}

case "$MODE" in
  pack) pack ;;
  run)
    [ -x "$PACK/engine_cuda_test" ] || { echo "gpu-check: no $PACK/ (run 'scripts/gpu-check.sh pack' first and carry it)" >&2; exit 2; }
    run "$PACK/engine_cuda_test" "$PACK/cuda_matvec_bench" "$PACK/cuda_ops_bench" \
      "$PACK/cuda_decode_bench" "$PACK/cuda_model_bench" ;;
  build-run)
    build && run "$BUILD_DIR/tests/engine/engine_cuda_test" "$BUILD_DIR/bench/cuda_matvec_bench" \
      "$BUILD_DIR/bench/cuda_ops_bench" "$BUILD_DIR/bench/cuda_decode_bench" \
      "$BUILD_DIR/bench/cuda_model_bench" ;;
  *) echo "usage: scripts/gpu-check.sh pack|run|build-run" >&2; exit 2 ;;
esac
