#!/usr/bin/env bash
# The kernels of a decode step and its critical path, counted on the CPU emulator (no GPU needed):
# cuda_decode_bench runs one V4-Flash-shaped block (tests/data/v4-flash-config.json with 8 routed
# experts: Flash's kernels and grids, the expert count only sizes the router) with the emulator's
# launch trace on and the kernels' bodies skipped (tests/cuda_emulator/README.md), its steps
# chained as a model's blocks are (each leaves its MoE combine to the next one's first launch:
# engine/kernels/cuda/block_step.h), and the block's last whole step is read off the trace: its launches, and its depth — the kernels that wait for
# each other one after another, through stream order and the side streams' events — split into
# the attention's and the FFN's sub-layers. docs/BENCHMARKS.md records the figures session by
# session. Environment switches pass through (DSAGENT_CUDA_FUSED_STEPS=off,
# DSAGENT_CUDA_SIDE_STREAMS=off, ...).
# Usage: scripts/decode-depth.sh [--context N] [--ratio 4|128]   (default: 8 tokens, ratio 4)
# Env: BUILD (default build: a build with the emulated tests, the default).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
context=8
ratio=4
while [ $# -gt 0 ]; do
  case "$1" in
    --context) context="$2"; shift 2 ;;
    --ratio) ratio="$2"; shift 2 ;;
    *) echo "decode-depth: unknown argument $1 (--context N, --ratio 4|128)" >&2; exit 2 ;;
  esac
done
bench="$BUILD/tests/cuda_emulator/cuda_decode_bench"
[ -x "$bench" ] || {
  echo "decode-depth: no $bench (build with the emulated tests: scripts/setup.sh)" >&2
  exit 2
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - tests/data/v4-flash-config.json "$tmp/config.json" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
config["n_routed_experts"] = 8
json.dump(config, open(sys.argv[2], "w"))
EOF
if ! DSAGENT_CUDA_GRAPHS=off DSAGENT_CUDA_EMULATOR_STATS=trace DSAGENT_CUDA_EMULATOR_SKIP_KERNELS=1 \
  "$bench" --config "$tmp/config.json" --context "$context" --reps 3 --ratio "$ratio" \
  >"$tmp/trace.txt" 2>&1; then
  tail -5 "$tmp/trace.txt" >&2
  echo "decode-depth: cuda_decode_bench failed" >&2
  exit 1
fi
# A sub-layer starts at its mHC fn products: HcFnPreKernel, or for the FFN HcPostFnPreKernel with
# the attention's HcPost (fused steps), else the 24-row exact product of 1,024 threads. The last
# three starts bound the last whole block step; the sub-layer that routes experts is the FFN.
awk -v context="$context" -v ratio="$ratio" '
  $1 == "launch" {
    n++
    depth[n] = $NF
    name[n] = $2
    if ($2 == "HcFnPreKernel" || $2 == "HcPostFnPreKernel" || ($2 == "MatVecExactKernel" && $4 == "24x1x1" && $6 == "1024x1x1"))
      starts[++s] = n
  }
  END {
    if (s < 3) { print "decode-depth: fewer than three sub-layer starts in the trace" > "/dev/stderr"; exit 1 }
    a = starts[s - 2]; b = starts[s - 1]; c = starts[s]
    ffn_first = 0
    for (i = a; i < b; i++) if (name[i] ~ /(GateRoute|MoeRoute)Kernel/) ffn_first = 1
    first = depth[b] - depth[a]; second = depth[c] - depth[b]
    printf "ratio %d block at %d tokens: %d launches a step, %d deep (attention %d, FFN %d)\n",
      ratio, context, c - a, depth[c] - depth[a], ffn_first ? second : first, ffn_first ? first : second
  }' "$tmp/trace.txt"
