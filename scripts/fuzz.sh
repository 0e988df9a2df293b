#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that take outside bytes (tests/fuzz/README.md), with
# Debian's clang: libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh TARGET [SECONDS] [JOBS]
# Builds into build-fuzz/ (only the fuzz targets and what they link). Each run starts from the seed
# corpus in tests/fuzz/corpus/<target> and keeps what it learns in build-fuzz/corpus/<target>.
# A crash leaves build-fuzz/crash-*: reproduce it with `build-fuzz/tests/fuzz/<target> FILE`, fix
# it, and copy the file to tests/fuzz/regressions/<target>/ so every ctest run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(fuzz_config fuzz_dsml fuzz_kv_record fuzz_model_config fuzz_safetensors fuzz_serve_request
         fuzz_shell_syntax fuzz_sse_anthropic fuzz_sse_chat_completions fuzz_tokenizer
         fuzz_tool_calls fuzz_trace)
if [ $# -ge 1 ] && [ "$1" != "all" ]; then TARGETS=("$1"); fi
SECONDS_EACH="${2:-60}"
JOBS="${3:-1}"

command -v clang++ >/dev/null || { echo "fuzz: clang++ is missing: apt-get install clang" >&2; exit 1; }
scripts/setup.sh --no-build
BUILD=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDSAGENT_FUZZ=ON -DDSAGENT_WERROR=OFF ${CMAKE_ARGS:-} >/dev/null
ninja -C "$BUILD" "${TARGETS[@]}"

status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$BUILD/corpus/$t"
  echo "fuzz: $t for ${SECONDS_EACH}s" >&2
  seeds=(tests/fuzz/corpus/"$t")
  [ -d tests/fuzz/regressions/"$t" ] && seeds+=(tests/fuzz/regressions/"$t")
  # -max_len: parsers see long inputs in real use, but 64 KiB finds the same bugs much faster.
  if ! (cd "$BUILD" && "tests/fuzz/$t" "corpus/$t" "${seeds[@]/#/../}" \
          -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
          -jobs="$JOBS" -workers="$JOBS" -print_final_stats=1 2>&1 | tee "fuzz-$t.log" |
          grep -E "^#[0-9]+.*(DONE|pulse)|stat::|ERROR|SUMMARY|Test unit written"); then :; fi
  if grep -q -E "ERROR: (libFuzzer|AddressSanitizer|UndefinedBehaviorSanitizer)|FUZZ_CHECK failed|runtime error" "$BUILD/fuzz-$t.log"; then
    echo "fuzz: $t FOUND A PROBLEM (log: $BUILD/fuzz-$t.log)" >&2
    status=1
  fi
done
exit $status
