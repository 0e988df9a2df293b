#!/usr/bin/env bash
# The CUDA backend's device checks in one run, for a session lent a GPU (docs/BENCHMARKS.md,
# "CUDA kernels"): the CUDA tests with DSAGENT_REQUIRE_CUDA=1 (a skip is a failure there; the whole
# engine_cuda_test binary: ops, forward ops, model, decoder, device sequences and their
# snapshot/restore, the device SequenceModel, the golden sweep's 25 sets on the device —
# tests/engine/CMakeLists.txt lists its files; the figures they print go to test-figures.txt), the
# matvec bandwidth benchmark, the forward-op kernels' timings, a V4-Flash-shaped block's decode
# time per token (all experts on the device, then half of them offloaded to the host), and a
# V4-Flash-shaped synthetic checkpoint of SYNTH_LAYERS (4) layers decoded end to end through the
# engine's device SequenceModel (prefill of 1K and 8K tokens in chunks of rows, 1 sequence's decode,
# 8 in one ForwardBatch per step and one by one, half the experts offloaded; the decode steps of 1
# and of 8 sequences again without CUDA graphs; exact numerics), and the CLI on the
# GPU (`dsagent engine generate --device cuda` on tests/data/v4-tiny: greedy tokens against
# --device cpu, a --kv-dir round trip from the GPU to the GPU and to the CPU, `engine logits
# --device cuda`, `--speculative mtp` on the GPU: the greedy tokens of speculation off). The
# verdicts and key figures go to stdout, ending with a summary and the failed tests' messages
# (the first few failed tests are rerun under each of the engine's switches back to earlier code
# paths, and a line per test says which switches it passes under: localize_failures);
# everything else to $OUT (default ./gpu-check-out) as one gpu-check-results.tgz (the device tool
# brings back at most 8 files).
#
# The lent machine (an H200 with 16 cores) has nvcc, CMake and ninja but not the project's Debian
# packages (libgit2, GoogleTest, ...) and no network, so the binaries are built here and carried:
#   here:   scripts/gpu-check.sh pack        # builds engine_cuda_test + the four CUDA benches +
#                                            # host_experts_bench + dsagent with CUDA ON into
#                                            # build/, packs them and
#                                            # the shared libraries they need as one xz archive,
#                                            # .gpu-check/pack.txz (git-ignored; ~23 MB)
#   there:  scripts/gpu-check.sh run         # (device tool: carry [".gpu-check"], timeout 600 s;
#                                            # 139 s with everything on 2026-12-04, run 4)
#   there:  scripts/gpu-check.sh tests 'CudaOpsTest.*'   # a gtest filter's tests only, one process
#   there:  scripts/gpu-check.sh profile     # the Nsight Compute profiles only (run does them last)
# On a full development machine with a GPU, `scripts/gpu-check.sh build-run` does both in place
# (configure with CUDA ON, ninja -j$(nproc), run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODE="${1:-run}"
PACK=.gpu-check
BUILD_DIR="${BUILD_DIR:-build}"
TARGETS=(engine_cuda_test cuda_matvec_bench cuda_ops_bench cuda_decode_bench cuda_model_bench
         cuda_upload_bench host_experts_bench dsagent)

build() {
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
    -DDSAGENT_CUDA=ON ${CMAKE_ARGS:-} >/dev/null
  cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target "${TARGETS[@]}"
}

pack() {
  build
  local stage; stage=$(mktemp -d)
  mkdir -p "$stage/lib" "$stage/cli/lib"
  # Without their debug sections (the symbols stay): the device tool carries 64 MiB at most, the
  # repository's tracked files (~30 MB, mostly tests/data) included.
  for bin in "$BUILD_DIR/tests/engine/engine_cuda_test" "$BUILD_DIR"/bench/cuda_{matvec,ops,decode,model,upload}_bench \
             "$BUILD_DIR/bench/host_experts_bench"; do
    strip --strip-debug -o "$stage/$(basename "$bin")" "$bin"
  done
  # Every shared library but glibc's travels along (the device image is not Debian: libstdc++
  # must be GCC 12's or newer, libcrypto 3). The binaries need glibc >= 2.34.
  for bin in "$BUILD_DIR/tests/engine/engine_cuda_test" "$BUILD_DIR"/bench/cuda_*_bench \
             "$BUILD_DIR/bench/host_experts_bench"; do
    ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libdl|librt|libpthread)\.so' |
      xargs -r -I{} cp -L {} "$stage/lib/"
  done
  # dsagent links much more (libgit2, curl, ICU: ~70 MB with its libraries); its libraries not
  # already in lib/ go to cli/lib, searched only for it.
  strip --strip-debug -o "$stage/cli/dsagent" "$BUILD_DIR/dsagent"
  ldd "$BUILD_DIR/dsagent" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libdl|librt|libpthread)\.so' |
    while read -r lib; do [ -e "$stage/lib/$(basename "$lib")" ] || cp -L "$lib" "$stage/cli/lib/"; done
  # All of it as one xz archive (gzip left it at ~60 MB, too much beside the tracked files). -9:
  # its 64 MiB dictionary spans the binaries, which repeat the same kernel images (23 MB on
  # 2026-12-04, session 20, where -6 gave 33 MB).
  rm -rf "$PACK" && mkdir -p "$PACK"
  tar cf - -C "$stage" . | xz -T"${JOBS:-$(nproc)}" -9 >"$PACK/pack.txz" && rm -rf "$stage"
  grep -qx "/$PACK/" .git/info/exclude 2>/dev/null || echo "/$PACK/" >>"$(git rev-parse --git-path info/exclude)"
  du -sh "$PACK"
  check_carry
}

# Whether the device tool can carry the checkout: the tracked files, the untracked ones git does
# not ignore, and $PACK together within its 64 MiB (a 2 MiB margin). 59 MB on 2026-12-07 (session
# 38; the pack 28 MB of it, each binary holding the same 17 MB of kernel images for sm_90, sm_100
# and sm_120). Past it, a pack built for the lent GPU's architecture alone fits.
check_carry() {
  local bytes limit=$(( (64 - 2) << 20 ))
  bytes=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } |
    xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}')
  bytes=$(( bytes + $(du -sb "$PACK" | cut -f1) ))
  echo "gpu-check: the device tool carries $(( bytes >> 20 )) MiB of its 64 (the checkout and $PACK)"
  if [ "$bytes" -gt "$limit" ]; then
    echo "gpu-check: too much for the device tool; pack for the H100/H200's sm_90 alone:" >&2
    echo "  BUILD_DIR=build-sm90 CMAKE_ARGS='-DCMAKE_CUDA_ARCHITECTURES=90-real' scripts/gpu-check.sh pack" >&2
    return 1
  fi
}

# On the device: the archive pack made, unpacked in place (tar's xz, else Python's lzma).
unpack() {
  [ -f "$PACK/pack.txz" ] || { echo "gpu-check: no $PACK/pack.txz (run 'scripts/gpu-check.sh pack' first and carry $PACK)" >&2; exit 2; }
  tar xJf "$PACK/pack.txz" -C "$PACK" 2>/dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$PACK/pack.txz" "$PACK"
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
  grep -h "identical\|top-1\|max |d\|match" "$out"/tests/*.txt | head -300 >"$out/test-figures.txt" || true
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
  [ -n "$failed" ] && localize_failures "$test_bin" "$out" $failed
  # One archive: the device tool brings back a limited number of files.
  tar czf "$out/tests.tgz" -C "$out" tests test-names.txt test-results.txt && rm -rf "$out/tests"
  [ -z "$failed" ]
}

# The engine's switches back to earlier code paths, each NAME=VALUE as the environment takes it
# (ops.h, fused_steps.h, side_stream.h, kernel_launch.h, decode_graph.h, attention_step.h,
# expert_stream.h): every
# kernel path written since the last GPU run has one of these beside it.
LOCALIZE_SWITCHES=(
  DSAGENT_CUDA_PDL=off DSAGENT_CUDA_GRAPHS=off DSAGENT_CUDA_SIDE_STREAMS=off
  DSAGENT_CUDA_FUSED_STEPS=off DSAGENT_CUDA_TILED_TILES=budget DSAGENT_CUDA_TILED_PREFETCH=1
  DSAGENT_CUDA_MATVEC_ROWS=by-input DSAGENT_CUDA_ROW_ATTENTION=per-row
  DSAGENT_CUDA_STREAM_CHOICE=capacity DSAGENT_CUDA_UPLOAD_STAGING=off CUDA_LAUNCH_BLOCKING=1
)

# localize_failures TEST_BIN OUT NAME...: the first few failed tests (LOCALIZE_MAX, 4) rerun under
# each switch alone and under all of them at once, eight processes at a time, so that one run
# says which of the newer paths a failure needs (run 4 spent three more calls, each with the
# machine's start, narrowing one down by hand). A line per test: "pass" under a switch means the
# failure is in the path that switch turns off; "fail" under every one, and under all, points at
# code none of them touches. The logs go to $OUT/tests/localize/.
localize_failures() {
  local test_bin="$1" out="$2" name switch
  shift 2
  mkdir -p "$out/tests/localize"
  # A job a line: the test, a label for the log's name and the table, the switches.
  for name in $(printf '%s\n' "$@" | head -"${LOCALIZE_MAX:-4}"); do
    for switch in "${LOCALIZE_SWITCHES[@]}"; do printf '%s\t%s\t%s\n' "$name" "$switch" "$switch"; done
    printf '%s\t%s\t%s\n' "$name" all "${LOCALIZE_SWITCHES[*]}"
  done >"$out/tests/localize/jobs.txt"
  local t; t=$(step_limit "${LOCALIZE_TIMEOUT_S:-120}")
  [ "$t" = 0 ] && { echo "localize: skipped, time budget spent"; return 0; }
  export TEST_BIN="$test_bin" LOCALIZE_OUT="$out/tests/localize" LOCALIZE_TEST_S="${TEST_TIMEOUT_S:-90}"
  timeout "$t" xargs -P "${TEST_JOBS:-8}" -d '\n' -I{} bash -c '
    IFS=$(printf "\t") read -r name label switches <<<"$1"
    read -ra words <<<"$switches"
    env "${words[@]}" timeout "$LOCALIZE_TEST_S" "$TEST_BIN" --gtest_filter="$name" \
      >"$LOCALIZE_OUT/$(echo "$name $label" | tr " /=" "__-").txt" 2>&1
    printf "%s\t%s\t%s\n" "$?" "$name" "$label"' _ {} <"$out/tests/localize/jobs.txt" \
    >"$out/tests/localize/results.txt" || true
  localize_table "$out/tests/localize/results.txt" | tee "$out/localize.txt"
}

# localize_table RESULTS: "status<TAB>test<TAB>label" lines as one line per test naming the
# switches it passes under (or none), for the run's output.
localize_table() {
  awk -F'\t' '
    { tests[$2] = 1
      if ($1 == 0) pass[$2] = pass[$2] (pass[$2] ? ", " : "") ($3 == "all" ? "all of them at once" : $3)
      ran[$2]++ }
    END { for (t in tests) printf "localize: %s: passes with %s (%d runs)\n", t,
            (t in pass) ? pass[t] : "none of the switches", ran[t] }' "$1" | sort
}

# The CLI on the GPU, on tests/data/v4-tiny (512 positions, vocabulary 512), each call under a time
# limit, outputs in $OUT/cli: (1) `engine generate --device cuda` of a fixed token prompt, greedy,
# against --device cpu (the device tests found them identical, 2026-12-04); (2) a --kv-dir round
# trip: a chat turn on the GPU stores its prefix, the same turn in a new GPU process reports it
# cached ("[prompt N tokens (M cached)", M > 0) with the same reply, and so does a CPU process on
# the GPU's store; (3) `engine logits --device cuda` writes a row per token, the same bytes as
# `--device cpu` (both exact numerics); (4) `engine generate
# --device cuda --speculative mtp` (the MTP block drafts on the GPU, rejected drafts taken back on
# the GPU) gives the greedy tokens of (1)'s --device cuda run, and says how many drafts it kept.
run_cli() {
  local dsagent="$1" out="$2/cli" rc=0
  local limit="${CLI_TIMEOUT_S:-120}" model=tests/data/v4-tiny
  local tokenizer=tests/data/v4-tiny-tokenizer/tokenizer.json
  mkdir -p "$out"
  local ids=(0 17 42 99 300 7 256 128 5 511 64 33) id
  : >"$out/prompt.i32"
  for id in "${ids[@]}"; do
    printf "\\x$(printf %02x $((id & 255)))\\x$(printf %02x $((id >> 8)))\\x00\\x00" >>"$out/prompt.i32"
  done
  local generate=("$dsagent" engine generate --model "$model" --tokens "$out/prompt.i32"
                  --max-tokens 24 --temperature 0 --ctx-size 256)
  local device
  for device in cpu cuda; do
    timeout "$limit" "${generate[@]}" --device "$device" >"$out/greedy-$device.txt" \
      2>"$out/greedy-$device.err" || { echo "cli: engine generate --device $device failed"; rc=1; }
  done
  if [ -s "$out/greedy-cuda.txt" ] && cmp -s "$out/greedy-cpu.txt" "$out/greedy-cuda.txt"; then
    echo "cli: engine generate --device cuda: the CPU's greedy tokens: $(head -1 "$out/greedy-cuda.txt")"
  else
    echo "cli: engine generate --device cuda differs from --device cpu (or failed):"
    head -3 "$out"/greedy-{cpu,cuda}.txt "$out/greedy-cuda.err"; rc=1
  fi
  # A user message of a few hundred tokens: the store keeps the prompt's last 128-aligned prefix.
  local text="" i
  for i in $(seq 10); do text+="the quick brown fox jumps over the lazy dog "; done
  printf '[{"role": "user", "content": "%s"}]\n' "$text" >"$out/messages.json"
  rm -rf "$out/kv"
  local chat=("$dsagent" engine generate --model "$model" --tokenizer "$tokenizer"
              --messages "$out/messages.json" --thinking off --max-tokens 8 --ctx-size 512
              --kv-dir "$out/kv")
  local run_name
  for run_name in cuda-first:cuda cuda-again:cuda cpu-after-cuda:cpu; do
    timeout "$limit" "${chat[@]}" --device "${run_name#*:}" >"$out/kv-${run_name%%:*}.txt" \
      2>"$out/kv-${run_name%%:*}.err" || { echo "cli: --kv-dir ${run_name%%:*} failed"; rc=1; }
    echo "cli: --kv-dir ${run_name%%:*}: $(grep -o 'prompt [0-9]* tokens ([0-9]* cached)' \
      "$out/kv-${run_name%%:*}.err" || echo 'no stats line')"
  done
  grep -q ' tokens (0 cached)' "$out/kv-cuda-first.err" || { echo "cli: the first run found a prefix"; rc=1; }
  for run_name in cuda-again cpu-after-cuda; do
    grep -Eq ' tokens \([1-9][0-9]* cached\)' "$out/kv-$run_name.err" ||
      { echo "cli: $run_name: prefill not skipped"; rc=1; }
    cmp -s "$out/kv-cuda-first.txt" "$out/kv-$run_name.txt" ||
      { echo "cli: $run_name: another reply than the first run's"; rc=1; }
  done
  timeout "$limit" "$dsagent" engine logits --model "$model" --tokens "$out/prompt.i32" \
    --out "$out/logits-cuda.f32" --device cuda >"$out/logits-cuda.err" 2>&1 || rc=1
  local bytes; bytes=$(stat -c %s "$out/logits-cuda.f32" 2>/dev/null || echo 0)
  [ "$bytes" = $(( ${#ids[@]} * 512 * 4 )) ] && echo "cli: engine logits --device cuda: $bytes bytes" ||
    { echo "cli: engine logits --device cuda: $bytes bytes, expected $(( ${#ids[@]} * 512 * 4 ))"; rc=1; }
  # Both devices compute engine logits in exact numerics: the same bytes.
  timeout "$limit" "$dsagent" engine logits --model "$model" --tokens "$out/prompt.i32" \
    --out "$out/logits-cpu.f32" >"$out/logits-cpu.err" 2>&1 || rc=1
  if cmp -s "$out/logits-cpu.f32" "$out/logits-cuda.f32"; then
    echo "cli: engine logits: --device cuda and --device cpu wrote the same bytes (exact numerics)"
  else
    echo "cli: engine logits: --device cuda differs from --device cpu in exact numerics"; rc=1
  fi
  timeout "$limit" "${generate[@]}" --device cuda --speculative mtp >"$out/greedy-cuda-mtp.txt" \
    2>"$out/greedy-cuda-mtp.err" || { echo "cli: --device cuda --speculative mtp failed"; rc=1; }
  if [ -s "$out/greedy-cuda-mtp.txt" ] && cmp -s "$out/greedy-cuda.txt" "$out/greedy-cuda-mtp.txt"; then
    echo "cli: --device cuda --speculative mtp: the same greedy tokens as speculation off;" \
      "$(grep -o 'speculative: .*' "$out/greedy-cuda-mtp.err" || echo 'no speculation line')"
  else
    echo "cli: --device cuda --speculative mtp differs from --speculative off (or failed):"
    head -3 "$out"/greedy-cuda{,-mtp}.txt "$out/greedy-cuda-mtp.err"; rc=1
  fi
  echo "cli: $([ $rc = 0 ] && echo passed || echo FAILED)"
  return $rc
}

# Seconds a step may take: its own limit, capped so that the whole run ends by GPU_CHECK_BUDGET_S
# (default 570: the device tool stops a command at 600 s, and the summary at the end must print).
# 0 when less than 20 s are left: the step is skipped.
step_limit() {
  local left=$(( ${GPU_CHECK_BUDGET_S:-570} - SECONDS - 10 ))
  if [ "$left" -lt 20 ]; then echo 0; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
# bounded LIMIT CMD...: CMD under timeout step_limit(LIMIT), or skipped (status 1) when the budget
# is spent (`timeout 0` would mean no limit at all).
bounded() {
  local t
  t=$(step_limit "$1")
  shift
  if [ "$t" = 0 ]; then echo "gpu-check: skipped, time budget spent: ${1##*/}" >&2; return 1; fi
  timeout "$t" "$@"
}

# Nsight Compute's binary: on the PATH, else where the image installs it; fails without one.
find_ncu() {
  local ncu_bin
  ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)
  [ -n "$ncu_bin" ] && echo "$ncu_bin"
}

# Where a decode step's time goes: each block kind (CSA ratio 4, HCA ratio 128) at 512 tokens of
# context timed without a profiler, then its timed steps under Nsight Compute (every kernel's
# gpu__time_duration; --clock-control none leaves the clocks alone), summed per kernel by
# scripts/ncu_summary.py against the unprofiled step time: how much the kernels themselves take
# and how much lies between them (launches, host work).
profile_decode() {
  local bench="$1" out="$2" ncu_bin ratio ms rc=0
  ncu_bin=$(find_ncu) || { echo "profile: no ncu on this machine"; return 0; }
  for ratio in 4 128; do
    bounded 60 "$bench" --context 512 --reps 16 --ratio "$ratio" >"$out/decode_ratio$ratio.txt" 2>&1 || rc=1
    ms=$(awk '/ms\/token/ {print $7; exit}' "$out/decode_ratio$ratio.txt")
    bounded 120 "$ncu_bin" --clock-control none --profile-from-start off --csv --print-units base \
      --print-kernel-base function --metrics gpu__time_duration.sum \
      "$bench" --context 512 --reps 4 --ratio "$ratio" --profile \
      >"$out/ncu_decode_ratio$ratio.csv" 2>"$out/ncu_decode_ratio$ratio.err" || rc=1
    echo "profile: block ratio $ratio at 512 tokens, ${ms:-?} ms/token unprofiled"
    python3 scripts/ncu_summary.py "$out/ncu_decode_ratio$ratio.csv" --steps 4 \
      ${ms:+--step-ms "$ms"} --top 18 || { tail -5 "$out/ncu_decode_ratio$ratio.err"; rc=1; }
  done
  return $rc
}

# Why the heaviest kernels stall: Nsight Compute's basic sections (throughput of memory and SMs,
# occupancy, registers, launch shape) for the first launch of the single-row tiled matvec
# (V4-Flash's wq_b, one input: the decode path) and of the grouped one (several inputs), from the
# matvec bench, and of the sparse attention (640 rows, split: its first pass), from the ops bench.
# The key lines to stdout, the full reports to $OUT.
profile_kernels() {
  local matvec_bench="$1" ops_bench="$2" out="$3" ncu_bin pair kernel bench rc=0
  ncu_bin=$(find_ncu) || { echo "profile: no ncu on this machine"; return 0; }
  for pair in "TiledKernel:$matvec_bench" "TiledRowsKernel:$matvec_bench" \
              "SparseAttentionKernel:$ops_bench"; do
    kernel="${pair%%:*}" bench="${pair#*:}"
    bounded 90 "$ncu_bin" --clock-control none --set basic --launch-count 1 \
      -k "regex:^$kernel" "$bench" >"$out/ncu_$kernel.txt" 2>&1 || rc=1
    echo "profile: $kernel (first launch)"
    grep -E "^ +(Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Registers Per Thread|Achieved Occupancy|Theoretical Occupancy|Grid Size|Block Size|Dynamic Shared Memory Per Block|Waves Per SM)" \
      "$out/ncu_$kernel.txt" | head -14 || tail -3 "$out/ncu_$kernel.txt"
  done
  return $rc
}

run() {
  local test_bin="$1" bench_bin="$2" ops_bench_bin="$3" decode_bench_bin="$4" model_bench_bin="$5"
  local dsagent_bin="$6"
  OUT="${OUT:-$PWD/gpu-check-out}"
  mkdir -p "$OUT"
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
  head -12 "$OUT/nvidia-smi.txt"
  local rc=0
  export DSAGENT_REQUIRE_CUDA=1 DSAGENT_SOURCE_ROOT="$PWD"
  export LD_LIBRARY_PATH="$PWD/$PACK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local cli_status="not run"
  run_tests "$test_bin" "$OUT" || rc=1
  echo "gpu-check: tests done at ${SECONDS} s"
  if [ -x "$dsagent_bin" ]; then
    if run_cli "$dsagent_bin" "$OUT"; then cli_status=passed; else cli_status=FAILED; rc=1; fi
  else echo "gpu-check: no dsagent binary ($dsagent_bin): CLI checks not run"; rc=1; fi
  echo "gpu-check: CLI done at ${SECONDS} s"
  local limit="${BENCH_TIMEOUT_S:-60}"
  bounded "$limit" "$bench_bin" --json "$OUT/cuda_matvec_bench.json" >"$OUT/cuda_matvec_bench.txt" 2>&1 || rc=1
  grep -v "^rows " "$OUT/cuda_matvec_bench.txt" | tail -20 || true
  # The weights' upload at load: 2 GiB of Flash-shaped experts from pageable memory through the
  # driver's staging and through the page-locked staging buffers, and from pinned memory.
  local upload_bench; upload_bench="$(dirname "$bench_bin")/cuda_upload_bench"
  if [ -x "$upload_bench" ]; then
    bounded "$limit" "$upload_bench" --mib 2048 --json "$OUT/cuda_upload_bench.json" \
      >"$OUT/cuda_upload_bench.txt" 2>&1 || rc=1
    tail -5 "$OUT/cuda_upload_bench.txt"
  fi
  bounded "$limit" "$ops_bench_bin" --json "$OUT/cuda_ops_bench.json" >"$OUT/cuda_ops_bench.txt" 2>&1 || rc=1
  tail -20 "$OUT/cuda_ops_bench.txt"
  bounded "$limit" "$decode_bench_bin" --json "$OUT/cuda_decode_bench.json" >"$OUT/cuda_decode_bench.txt" 2>&1 || rc=1
  tail -20 "$OUT/cuda_decode_bench.txt"
  # The expert offload: half of each block's routed experts kept on the host (this machine's CPUs).
  bounded "$limit" "$decode_bench_bin" --context 512 --experts-on-device 128 \
    --json "$OUT/cuda_decode_bench_offload.json" >"$OUT/cuda_decode_bench_offload.txt" 2>&1 || rc=1
  tail -20 "$OUT/cuda_decode_bench_offload.txt"
  # End to end through the engine's device SequenceModel (--device cuda): a V4-Flash-shaped
  # synthetic checkpoint of a few layers written here first; prefill of 1K and 8K prompt tokens
  # (chunked: ModelRows) and one sequence's decode; eight sequences in one ForwardBatch per step,
  # then one by one (the rows forward's gain); one with half the routed experts kept on the host.
  # The key figures go to stdout (only the output's tail reliably comes back).
  local model="${MODEL_DIR:-/tmp/gpu-check-flash}" layers="${SYNTH_LAYERS:-4}"
  local mlimit="${MODEL_TIMEOUT_S:-240}"
  bounded "$mlimit" "$model_bench_bin" --model "$model" --synth-layers "$layers" \
    --prefill 1024,8192 --steps 32 --phase-times 1 --json "$OUT/cuda_model_bench.json" \
    >"$OUT/cuda_model_bench.txt" 2>&1 || rc=1
  grep -E "^(synthetic|weights to|host memory|  loaded weights|prefill|  phase|decode|graphs|/)" \
    "$OUT/cuda_model_bench.txt" || tail -5 "$OUT/cuda_model_bench.txt"
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 16 --steps 16 \
    --sequences 8 --json "$OUT/cuda_model_bench_8.json" >"$OUT/cuda_model_bench_8.txt" 2>&1 || rc=1
  tail -3 "$OUT/cuda_model_bench_8.txt"
  # The same decode steps without CUDA graphs (decode_graph.h; on above): what a graph launch
  # per step saves over launching each kernel, for one sequence and for eight in one batch.
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 1024 --steps 32 --graphs 0 \
    --json "$OUT/cuda_model_bench_nographs.json" >"$OUT/cuda_model_bench_nographs.txt" 2>&1 || rc=1
  grep -E "^(decode|graphs)" "$OUT/cuda_model_bench_nographs.txt" | sed 's/^/no graphs: /' || true
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 16 --steps 16 --sequences 8 \
    --graphs 0 --json "$OUT/cuda_model_bench_8_nographs.json" \
    >"$OUT/cuda_model_bench_8_nographs.txt" 2>&1 || rc=1
  grep -E "^(decode|graphs)" "$OUT/cuda_model_bench_8_nographs.txt" | sed 's/^/no graphs: /' || true
  # The single-row tiled matvec with the CTA rows of sessions 17-21 (as many as its block sums'
  # budget holds, several rounds of loads a thread; ops.h TiledBudgetTiles) against the one-round
  # tiles of session 22: the main run's decode at the same context.
  DSAGENT_CUDA_TILED_TILES=budget bounded "$mlimit" "$model_bench_bin" --model "$model" \
    --prefill 8192 --steps 32 --json "$OUT/cuda_model_bench_budget_tiles.json" \
    >"$OUT/cuda_model_bench_budget_tiles.txt" 2>&1 || rc=1
  grep -E "^decode" "$OUT/cuda_model_bench_budget_tiles.txt" | sed 's/^/budget tiles: /' || true
  # The decode step on one stream (side_stream.h off) against its independent chains on side
  # streams (the default since session 22: the attention's KV row, compressor and indexer beside
  # its query, the MoE's shared expert beside the router and the routed experts).
  DSAGENT_CUDA_SIDE_STREAMS=off bounded "$mlimit" "$model_bench_bin" --model "$model" \
    --prefill 8192 --steps 32 --json "$OUT/cuda_model_bench_one_stream.json" \
    >"$OUT/cuda_model_bench_one_stream.txt" 2>&1 || rc=1
  grep -E "^decode" "$OUT/cuda_model_bench_one_stream.txt" | sed 's/^/one stream: /' || true
  # Plain launches (kernel_launch.h off) against programmatic dependent launches (the default
  # since session 23: each kernel's blocks start while the one before it runs and wait for it;
  # the single-weight matvecs issue their first weight loads before that wait).
  DSAGENT_CUDA_PDL=off bounded "$mlimit" "$model_bench_bin" --model "$model" \
    --prefill 8192 --steps 32 --json "$OUT/cuda_model_bench_plain_launches.json" \
    >"$OUT/cuda_model_bench_plain_launches.txt" 2>&1 || rc=1
  grep -E "^decode" "$OUT/cuda_model_bench_plain_launches.txt" | sed 's/^/plain launches: /' || true
  # The product-then-step pairs as two launches each (fused_steps.h off) against one (the default
  # since session 26: the mHC fn products with HcPreNorm, the gate with the router, the split
  # attention's second phase with its combine, each a last-CTA epilogue; w2 on the SwiGLU).
  DSAGENT_CUDA_FUSED_STEPS=off bounded "$mlimit" "$model_bench_bin" --model "$model" \
    --prefill 8192 --steps 32 --json "$OUT/cuda_model_bench_separate_steps.json" \
    >"$OUT/cuda_model_bench_separate_steps.txt" 2>&1 || rc=1
  grep -E "^decode" "$OUT/cuda_model_bench_separate_steps.txt" | sed 's/^/separate steps: /' || true
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 16 --steps 8 \
    --sequences 8 --one-by-one 1 --json "$OUT/cuda_model_bench_8_one_by_one.json" \
    >"$OUT/cuda_model_bench_8_one_by_one.txt" 2>&1 || rc=1
  tail -2 "$OUT/cuda_model_bench_8_one_by_one.txt"
  # The rows forward as it was before session 20 (every activation row through the single-row
  # kernel, chunks of 64 rows, each row's attention on its own), then the register-tiled kernel
  # in 64-row chunks, then the attention row by row: against the main run's prefill and the
  # 8-sequence batch above, what the kernel, the longer chunk and the chunk-wide attention give.
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 16,1024 --steps 16 \
    --sequences 8 --rows-kernel by-input --chunk-rows 64 --row-attention per-row --phase-times 1 \
    --json "$OUT/cuda_model_bench_by_input.json" >"$OUT/cuda_model_bench_by_input.txt" 2>&1 || rc=1
  grep -E "^(prefill|  phase|decode)" "$OUT/cuda_model_bench_by_input.txt" |
    sed 's/^/by-input, 64 rows: /' ||
    tail -3 "$OUT/cuda_model_bench_by_input.txt"
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 1024 --steps 4 --chunk-rows 64 \
    --json "$OUT/cuda_model_bench_chunk64.json" >"$OUT/cuda_model_bench_chunk64.txt" 2>&1 || rc=1
  grep -E "^prefill" "$OUT/cuda_model_bench_chunk64.txt" | sed 's/^/gemm, 64 rows: /' ||
    tail -3 "$OUT/cuda_model_bench_chunk64.txt"
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 1024 --steps 4 \
    --row-attention per-row --phase-times 1 --json "$OUT/cuda_model_bench_per_row.json" \
    >"$OUT/cuda_model_bench_per_row.txt" 2>&1 || rc=1
  grep -E "^(prefill|  phase)" "$OUT/cuda_model_bench_per_row.txt" | sed 's/^/per-row attention: /' ||
    tail -3 "$OUT/cuda_model_bench_per_row.txt"
  # The prompt's products on the tensor cores (--rows-kernel tensor, matvec_tensor.h; session 28,
  # never run on a GPU before): its prefill and phases against the main run's register-tiled ones.
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 1024,8192 --steps 4 \
    --rows-kernel tensor --phase-times 1 --json "$OUT/cuda_model_bench_tensor.json" \
    >"$OUT/cuda_model_bench_tensor.txt" 2>&1 || rc=1
  grep -E "^(prefill|  phase)" "$OUT/cuda_model_bench_tensor.txt" | sed 's/^/tensor rows: /' ||
    tail -3 "$OUT/cuda_model_bench_tensor.txt"
  # The exact numerics on the GPU (every product in double, attention one CTA per head): what
  # they cost against the fast decode and prefill above.
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 1024 --steps 16 \
    --numerics exact --json "$OUT/cuda_model_bench_exact.json" \
    >"$OUT/cuda_model_bench_exact.txt" 2>&1 || rc=1
  grep -E "^(prefill|decode)" "$OUT/cuda_model_bench_exact.txt" | sed 's/^/exact: /' ||
    tail -3 "$OUT/cuda_model_bench_exact.txt"
  # Half the routed experts on the host: a 1K prefill (256-row chunks: the planner streams their
  # host experts into the device pool, as many as the costs measured at load say) and decode (one
  # row: the CPU computes them), with where the offloaded time went and the measured costs.
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 1024 --steps 16 \
    --expert-share 0.5 --json "$OUT/cuda_model_bench_offload.json" \
    >"$OUT/cuda_model_bench_offload.txt" 2>&1 || rc=1
  grep -E "^(  streamed|  in pinned|  [0-9.]+ GiB|  no routed|  host experts|prefill|decode|  offload)" \
    "$OUT/cuda_model_bench_offload.txt" || tail -3 "$OUT/cuda_model_bench_offload.txt"
  # The same prefill with every call filling the pool (the choice before the costs were measured).
  DSAGENT_CUDA_STREAM_CHOICE=capacity bounded "$mlimit" "$model_bench_bin" --model "$model" \
    --prefill 1024 --steps 4 --expert-share 0.5 \
    --json "$OUT/cuda_model_bench_offload_capacity.json" \
    >"$OUT/cuda_model_bench_offload_capacity.txt" 2>&1 || rc=1
  grep -E "^(prefill|  offload \(prefill)" "$OUT/cuda_model_bench_offload_capacity.txt" |
    sed 's/^/pool filled: /' || tail -3 "$OUT/cuda_model_bench_offload_capacity.txt"
  # The same prefill with the host experts pageable (--pin 0): what page-locking them gives the
  # streamed copies.
  bounded "$mlimit" "$model_bench_bin" --model "$model" --prefill 1024 --steps 4 \
    --expert-share 0.5 --pin 0 --json "$OUT/cuda_model_bench_offload_pageable.json" \
    >"$OUT/cuda_model_bench_offload_pageable.txt" 2>&1 || rc=1
  grep -E "^(  [0-9.]+ GiB|  host experts|prefill|  offload \(prefill)" \
    "$OUT/cuda_model_bench_offload_pageable.txt" |
    sed 's/^/pageable: /' || tail -3 "$OUT/cuda_model_bench_offload_pageable.txt"
  # The CPU's side of the offload on this machine's cores: a 256-row chunk's host experts (half
  # of the checkpoint's first layer's) one call per row against one call for the chunk, and the
  # load's line for the stream choice against both (bench/host_experts_bench; this VM's 2 cores:
  # 431 and 262 ms, the line 19% high for the chunk, docs/BENCHMARKS.md).
  local host_bench; host_bench="$(dirname "$model_bench_bin")/host_experts_bench"
  if [ -x "$host_bench" ]; then
    bounded 90 "$host_bench" --model "$model" --rows 256 --reps 2 \
      >"$OUT/host_experts_bench.txt" 2>&1 || rc=1
    tail -5 "$OUT/host_experts_bench.txt"
  fi
  # The profiles last (the slowest steps; what the budget leaves them, else `gpu-check.sh profile`
  # in a second call).
  profile_decode "$decode_bench_bin" "$OUT" || rc=1
  profile_kernels "$bench_bin" "$ops_bench_bin" "$OUT" || rc=1
  # This run's A/B pairs side by side, last (the output's tail): decode with and without CUDA
  # graphs (whole model, 1 and 8 sequences; one block), the tiled matvec loading 4 items or one
  # at a time and with one-round or budget tiles, the step on side streams or one, programmatic
  # or plain launches, the fused steps or their pairs apart, the offloaded prefill with the host
  # experts pinned or pageable, the rows kernels (register-tiled or one row at a time; chunks of
  # 256 or 64 rows) on prefill and batched decode.
  echo "gpu-check A/B:"
  local f
  for f in cuda_model_bench cuda_model_bench_budget_tiles cuda_model_bench_one_stream \
    cuda_model_bench_plain_launches cuda_model_bench_separate_steps cuda_model_bench_nographs cuda_model_bench_8 cuda_model_bench_8_nographs \
    cuda_model_bench_by_input cuda_model_bench_exact; do
    grep -E "^decode [0-9]+ steps" "$OUT/$f.txt" 2>/dev/null | sed "s/^/  $f: /" || true
  done
  for f in cuda_model_bench cuda_model_bench_chunk64 cuda_model_bench_per_row cuda_model_bench_by_input; do
    grep -E "^prefill" "$OUT/$f.txt" 2>/dev/null | sed "s/^/  $f: /" || true
  done
  grep -E "^upload " "$OUT/cuda_upload_bench.txt" 2>/dev/null | sed 's/^/  /' || true
  grep -E "^rows .*M=(8|128) " "$OUT/cuda_matvec_bench.txt" 2>/dev/null | sed 's/^/  /' || true
  grep -E "^block ratio|as CUDA graphs" "$OUT/cuda_decode_bench.txt" 2>/dev/null | sed 's/^/  /' || true
  grep -E "^matvec " "$OUT/cuda_matvec_bench.txt" 2>/dev/null | grep -v "(lanes)" | sed 's/^/  /' || true
  for f in cuda_model_bench_offload cuda_model_bench_offload_pageable; do
    grep -E "^(prefill|  [0-9.]+ GiB)" "$OUT/$f.txt" 2>/dev/null | sed "s/^/  $f: /" || true
  done
  # The verdicts once more at the very end: the device tool returns only the output's last 12,000
  # characters, and the benches above can push the tests' own lines out of it.
  echo "gpu-check summary (${SECONDS} s): tests $(awk '$1 == 0' "$OUT/test-results.txt" | wc -l) of" \
    "$(wc -l <"$OUT/test-results.txt") passed; CLI $cli_status"
  awk '$1 != 0 {print "  failed (rc " $1 "): " $2}' "$OUT/test-results.txt" | head -30
  cat "$OUT/localize.txt" 2>/dev/null || true
  # The failed tests' own messages (their gtest failure lines), for the output's tail.
  awk '$1 != 0 {print $2}' "$OUT/test-results.txt" | head -6 | while read -r name; do
    echo "--- $name"
    tar xzf "$OUT/tests.tgz" -O "tests/$(echo "$name" | tr / _).txt" 2>/dev/null |
      grep -A4 -E "Failure" | grep -v "^--$" | head -10 || true
  done
  # Everything as one archive beside the summary: the device tool brings back at most 8 files.
  echo "gpu-check: $([ $rc = 0 ] && echo passed || echo FAILED); results in $OUT"
  bundle_out
  return $rc
}

# $OUT's files as one gpu-check-results.tgz in $OUT (the device tool brings back at most 8 files).
bundle_out() {
  local bundle; bundle=$(mktemp -d)
  tar czf "$bundle/gpu-check-results.tgz" -C "$OUT" . &&
    find "$OUT" -mindepth 1 -delete && mv "$bundle/gpu-check-results.tgz" "$OUT/" && rmdir "$bundle"
}

# Sourced (tests/scripts/gpu_check_test.py): the functions only.
[[ "${BASH_SOURCE[0]}" != "$0" ]] && return 0

case "$MODE" in
  pack) pack ;;
  run)
    unpack
    export LD_LIBRARY_PATH="$PWD/$PACK/cli/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    run "$PACK/engine_cuda_test" "$PACK/cuda_matvec_bench" "$PACK/cuda_ops_bench" \
      "$PACK/cuda_decode_bench" "$PACK/cuda_model_bench" "$PACK/cli/dsagent" ;;
  profile)
    # Only the two Nsight Compute profiles (a second call when the full run's budget left them
    # out): their summaries to stdout, the raw files to $OUT.
    unpack
    export LD_LIBRARY_PATH="$PWD/$PACK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    OUT="${OUT:-$PWD/gpu-check-out}"
    mkdir -p "$OUT"
    profile_decode "$PACK/cuda_decode_bench" "$OUT" || true
    profile_kernels "$PACK/cuda_matvec_bench" "$PACK/cuda_ops_bench" "$OUT" || true
    bundle_out ;;
  tests)
    # Only the device tests matching a gtest filter, in one process (a quick rerun of a few):
    # scripts/gpu-check.sh tests 'CudaOpsTest.*'
    unpack
    export LD_LIBRARY_PATH="$PWD/$PACK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export DSAGENT_REQUIRE_CUDA=1 DSAGENT_SOURCE_ROOT="$PWD"
    timeout "${TEST_TIMEOUT_S:-300}" "$PACK/engine_cuda_test" --gtest_filter="${2:-*}" ;;
  build-run)
    build && run "$BUILD_DIR/tests/engine/engine_cuda_test" "$BUILD_DIR/bench/cuda_matvec_bench" \
      "$BUILD_DIR/bench/cuda_ops_bench" "$BUILD_DIR/bench/cuda_decode_bench" \
      "$BUILD_DIR/bench/cuda_model_bench" "$BUILD_DIR/dsagent" ;;
  *) echo "usage: scripts/gpu-check.sh pack|run|profile|tests FILTER|build-run" >&2; exit 2 ;;
esac
