#!/usr/bin/env bash
# API fault storm: RUNS `dsagent run` sessions against the campaign server answering each request,
# with probability RATE, with a fault drawn from: 429, 500, 502, 503, Anthropic's 529, a dropped
# connection, a stream cut mid-chunk, a malformed JSON chunk, a slow-drip stream, an oversized
# (8 MiB, or OVERSIZED_BYTES) reply. Half the runs use the Chat Completions wire, half the Anthropic one. Every run must
# end with a documented exit code (0 done, 4 API failure after retries; never a crash), and its
# trace must read and never hold a step twice (scripts/campaign_check_trace.py --partial).
#   scripts/campaign-api-faults.sh [RUNS=200] [BUILD_DIR=build] [RATE=0.3] [SEED=1]
# Prints one summary line; exits 1 if any run failed a check. KEEP=1 keeps the scratch dir.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-200}"
BUILD="${2:-build}"
RATE="${3:-0.3}"
SEED="${4:-1}"
STEPS=2
source scripts/campaign-lib.sh

start_server --steps "$STEPS" --step-command 'echo step-{k} >> steps.log' --fault-rate "$RATE" \
  --seed "$SEED" --drip-ms 5 --oversized-bytes "${OVERSIZED_BYTES:-8388608}" \
  --stats-file "$WORK/stats.json"
SANDBOX=()
"$DSAGENT" doctor 2>/dev/null | grep -q 'sandbox for `run`: on' || SANDBOX=(--no-sandbox)

declare -A exits
failures=0
for i in $(seq 1 "$RUNS"); do
  repo="$WORK/r$i"; trace="$WORK/t$i.jsonl"
  new_repo "$repo"
  provider=deepseek; [ $((i % 2)) = 0 ] && provider=deepseek-anthropic
  (cd "$repo" && "$DSAGENT" run --json "${SANDBOX[@]}" --provider "$provider" --trace "$trace" \
    "Do the campaign steps." >"$WORK/o$i" 2>"$WORK/e$i")
  rc=$?
  exits[$rc]=$(( ${exits[$rc]:-0} + 1 ))
  check=(--partial); [ $rc = 0 ] && check=()
  if [ $rc != 0 ] && [ $rc != 4 ]; then
    failures=$((failures + 1))
    echo "campaign-api-faults: run $i ($provider) exited $rc: $(tail -n 3 "$WORK/e$i")" >&2
  elif ! out="$("$PY" scripts/campaign_check_trace.py "$trace" "$STEPS" "${check[@]}")"; then
    failures=$((failures + 1))
    echo "campaign-api-faults: run $i ($provider): $out" >&2
  fi
done
stop_server
summary=""
for rc in $(printf '%s\n' "${!exits[@]}" | sort -n); do summary+=" exit $rc: ${exits[$rc]};"; done
echo "campaign-api-faults: $RUNS runs at fault rate $RATE, $failures failed;$summary" \
  "served $(cat "$WORK/stats.json" 2>/dev/null)"
[ "$failures" = 0 ]
