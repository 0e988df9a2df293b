#!/usr/bin/env bash
# scripts/decode-depth.sh on the emulated device (ctest emulated.decode_depth): it reads a step's
# launches and critical path off the trace, the sub-layers' chains add up to the step's, and the
# fused steps (engine/kernels/cuda/fused_steps.h) make the path shorter than their pairs apart do,
# for both kinds of compressed block. Then scripts/batched-depth.sh: a batched decode step's
# launches and depth do not grow with its sequences, and the fused steps shorten it too.
# Usage: decode_depth_test.sh <build dir>
set -euo pipefail
build="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "decode_depth_test: $*" >&2; exit 1; }
for ratio in 4 128; do
  context=$([ "$ratio" = 4 ] && echo 8 || echo 200)
  fused=$(BUILD="$build" "$root/scripts/decode-depth.sh" --context "$context" --ratio "$ratio")
  apart=$(DSAGENT_CUDA_FUSED_STEPS=off BUILD="$build" \
    "$root/scripts/decode-depth.sh" --context "$context" --ratio "$ratio")
  echo "fused: $fused"
  echo "apart: $apart"
  re='([0-9]+) launches a step, ([0-9]+) deep \(attention ([0-9]+), FFN ([0-9]+)\)'
  [[ "$fused" =~ $re ]] || fail "unreadable: $fused"
  fl=${BASH_REMATCH[1]} fd=${BASH_REMATCH[2]} fa=${BASH_REMATCH[3]} ff=${BASH_REMATCH[4]}
  [[ "$apart" =~ $re ]] || fail "unreadable: $apart"
  al=${BASH_REMATCH[1]} ad=${BASH_REMATCH[2]} aa=${BASH_REMATCH[3]} af=${BASH_REMATCH[4]}
  [ $((fa + ff)) -eq "$fd" ] && [ $((aa + af)) -eq "$ad" ] || fail "sub-layers do not add up"
  [ "$fd" -gt 0 ] && [ "$fl" -ge "$fd" ] && [ "$al" -ge "$ad" ] || fail "a step deeper than its launches"
  # Each sub-layer loses its fn/HcPreNorm pair; the FFN also the router's and SwiGLU's launches.
  [ "$fa" -lt "$aa" ] && [ "$ff" -lt "$af" ] && [ "$fl" -lt "$al" ] ||
    fail "ratio $ratio: the fused steps do not shorten the path"
  # No deeper than session 34 left it (docs/BENCHMARKS.md): a change that puts a kernel back on
  # the path, or serialises two chains, shows here.
  most=$([ "$ratio" = 4 ] && echo 12 || echo 10)
  [ "$fd" -le "$most" ] || fail "ratio $ratio: $fd deep, session 34 left it at $most"
done

# A batched decode step of the tiny checkpoint (ModelRows, one row from each sequence): its
# rows' state steps are a launch each for all its rows (the compressors, the indexer's scores and
# top-k), so neither its launches nor its depth grow with its sequences; the fused steps shorten
# it (without them the rows' own chains run, a launch each per row), and it is no deeper than
# session 36 left it (docs/BENCHMARKS.md).
re='([0-9]+) sequences: ([0-9]+) launches a step, ([0-9]+) deep'
eight=$(BUILD="$build" "$root/scripts/batched-depth.sh" --sequences 8)
three=$(BUILD="$build" "$root/scripts/batched-depth.sh" --sequences 3)
apart=$(DSAGENT_CUDA_FUSED_STEPS=off BUILD="$build" "$root/scripts/batched-depth.sh" --sequences 8)
echo "batched: $eight; $three; apart: $apart"
[[ "$eight" =~ $re ]] || fail "unreadable: $eight"
l8=${BASH_REMATCH[2]} d8=${BASH_REMATCH[3]}
[[ "$three" =~ $re ]] || fail "unreadable: $three"
l3=${BASH_REMATCH[2]} d3=${BASH_REMATCH[3]}
[[ "$apart" =~ $re ]] || fail "unreadable: $apart"
la=${BASH_REMATCH[2]} da=${BASH_REMATCH[3]}
[ "$l8" -eq "$l3" ] || fail "the batched step's launches grow with its sequences ($l3, $l8)"
[ "$la" -gt "$l8" ] || fail "the rows' own chains (fused steps off) make no more launches ($la, $l8)"
[ "$d8" -eq "$d3" ] || fail "the batched step's depth grows with its sequences ($d3, $d8)"
[ "$d8" -lt "$da" ] || fail "the fused steps do not shorten the batched step ($d8, $da apart)"
[ "$d8" -le 62 ] || fail "the batched step is $d8 deep, session 36 left it at 62"
