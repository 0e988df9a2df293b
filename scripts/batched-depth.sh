#!/usr/bin/env bash
# The kernels of a batched decode step (ModelRows: one row from each of N sequences) and its
# critical path, counted on the CPU emulator (no GPU needed): cuda_model_bench decodes the tiny
# checkpoint tests/data/v4-tiny (5 layers: window, CSA and HCA blocks) for N sequences with the
# emulator's launch trace on and the kernels' bodies skipped (tests/cuda_emulator/README.md), and
# the last step is read off the trace (from one EmbedKernel to the end): its launches, and its
# depth — the kernels that wait for each other one after another. N = 1 is the decode step
# (ModelDecode). docs/BENCHMARKS.md records the figures session by session. Environment switches
# pass through (DSAGENT_CUDA_FUSED_STEPS=off, DSAGENT_CUDA_SIDE_STREAMS=off, ...).
# Usage: scripts/batched-depth.sh [--sequences N]   (default 8)
# Env: BUILD (default build: a build with the emulated tests, the default).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
sequences=8
while [ $# -gt 0 ]; do
  case "$1" in
    --sequences) sequences="$2"; shift 2 ;;
    *) echo "batched-depth: unknown argument $1 (--sequences N)" >&2; exit 2 ;;
  esac
done
bench="$BUILD/tests/cuda_emulator/cuda_model_bench"
[ -x "$bench" ] || {
  echo "batched-depth: no $bench (build with the emulated tests: scripts/setup.sh)" >&2
  exit 2
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! DSAGENT_CUDA_GRAPHS=off DSAGENT_CUDA_EMULATOR_STATS=trace DSAGENT_CUDA_EMULATOR_SKIP_KERNELS=1 \
  "$bench" --model tests/data/v4-tiny --prefill 16 --steps 2 --sequences "$sequences" \
  --copy-mib 16 --graphs 0 >"$tmp/trace.txt" 2>&1; then
  tail -5 "$tmp/trace.txt" >&2
  echo "batched-depth: cuda_model_bench failed" >&2
  exit 1
fi
awk -v sequences="$sequences" '
  $1 == "launch" {
    if ($2 == "EmbedKernel") { n = 0; low = $NF; high = $NF }
    n++
    if ($NF < low) low = $NF
    if ($NF > high) high = $NF
  }
  END {
    if (n == 0) { print "batched-depth: no step in the trace" > "/dev/stderr"; exit 1 }
    printf "%d sequences: %d launches a step, %d deep\n", sequences, n, high - low + 1
  }' "$tmp/trace.txt"
